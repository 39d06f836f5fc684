"""The Hugging Face token, kept in the system keyring and never in a file the app writes.

When no keyring backend is usable (a headless machine without a Secret Service, for example), storing the
token fails with a StudioError that says how to use the ``HF_TOKEN`` environment variable instead.
"""

from __future__ import annotations

import os

from studio_desktop.core.errors import StudioError

SERVICE = "studio-desktop"
USERNAME = "huggingface"
TOKEN_ENV = "HF_TOKEN"
NO_KEYRING_MESSAGE = (
    "The Hugging Face token cannot be stored safely: no system keyring is available here "
    "(install and unlock a Secret Service such as GNOME Keyring or KWallet, or the keyring backend of "
    "your system). Instead, set the HF_TOKEN environment variable before starting Studio Desktop, "
    "e.g. 'HF_TOKEN=hf_... studio-desktop'; the token is then used without being saved."
)


def keyring_available() -> bool:
    """Whether a keyring backend that can store secrets is usable (not keyring's 'fail' backend)."""
    return _backend() is not None


def keyring_name() -> str:
    """A short name of the keyring backend in use, for the settings dialog ('' when none)."""
    backend = _backend()
    return getattr(backend, "name", type(backend).__name__) if backend is not None else ""


def get_token() -> str | None:
    """The stored token, or None when none is stored or no keyring is usable."""
    backend = _backend()
    if backend is None:
        return None
    try:
        return backend.get_password(SERVICE, USERNAME) or None
    except Exception as err:
        raise StudioError(f"cannot read the Hugging Face token from the keyring: {err}") from None


def set_token(token: str) -> None:
    """Store ``token`` in the keyring; raise a StudioError (no file fallback) when that is impossible."""
    token = token.strip()
    if not token:
        raise StudioError("the Hugging Face token is empty; use Delete to remove a stored token.")
    if any(char.isspace() for char in token):
        raise StudioError("the Hugging Face token must not contain spaces or line breaks.")
    backend = _require_backend()
    try:
        backend.set_password(SERVICE, USERNAME, token)
    except Exception as err:
        raise StudioError(f"cannot store the Hugging Face token in the keyring: {err}") from None


def delete_token() -> bool:
    """Remove the stored token; return whether one was stored."""
    backend = _require_backend()
    import keyring.errors

    try:
        backend.delete_password(SERVICE, USERNAME)
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as err:
        raise StudioError(f"cannot delete the Hugging Face token from the keyring: {err}") from None
    return True


def worker_environment() -> dict[str, str]:
    """Variables to add to a worker child's environment: ``HF_TOKEN`` when a token is stored.

    An ``HF_TOKEN`` already set in this process wins (it is inherited anyway) and the keyring is not read.
    An unreadable keyring gives no variable rather than an error: downloads then run without a token.
    """
    if os.environ.get(TOKEN_ENV):
        return {}
    try:
        token = get_token()
    except StudioError:
        return {}
    return {TOKEN_ENV: token} if token else {}


def _backend():
    """The active keyring backend, or None when keyring offers only a placeholder that stores nothing."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _require_backend():
    backend = _backend()
    if backend is None:
        raise StudioError(NO_KEYRING_MESSAGE)
    return backend
