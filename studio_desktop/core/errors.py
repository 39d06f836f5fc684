"""Errors a user can act on. Their message is shown as is, never with a traceback."""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """Base of every error whose message is meant for the user."""


class ConfigError(StudioError):
    """A configuration value is missing, of the wrong type or out of range."""


class BackboneError(StudioError):
    """A backbone cannot be found, converted or loaded."""


class CatalogError(StudioError):
    """A catalogue entry is missing, duplicated or in use."""


class CatalogDamagedError(CatalogError):
    """The catalogue file cannot be read (or was emptied while folders remain); ``repair`` rebuilds it."""


class DataError(StudioError):
    """Bad input data; the message names the file and, where known, the row or line and the field.

    ``row`` is the 1-based data row (header excluded) of a table; ``line`` the 1-based line of a text file.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = self.file or "input"
        if where:
            prefix += " (" + ", ".join(where) + ")"
        return f"{prefix}: {self.reason}"


class DivergenceError(StudioError):
    """The training loss or gradient norm became NaN or infinite."""

    def __init__(self, what: str, value: float, step: int) -> None:
        super().__init__(f"The training {what} became {value} at step {step}")
        self.step = step
