"""An in-process keyring backend for tests (keyring's own backend API is the seam)."""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors

SECRET = "hf_TestTokenThatMustNeverReachAFile123"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps secrets in this process only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not stored")
