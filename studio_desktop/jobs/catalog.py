"""SQLite catalogue of datasets, experiments and added backbones (WAL mode, versioned migrations).

Dataset and experiment folders are stored relative to the working directory that holds the catalogue, so a
moved or copied working directory refers to its own folders; a path outside it is refused.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any, TypeVar

from studio_desktop.core.errors import CatalogDamagedError, CatalogError

FOLDER_TABLES = ("datasets", "experiments")  # each table's folders live in the workdir folder of that name
LOCK_TIMEOUT = 30.0  # seconds a write waits for another process's transaction


def _relative_folders(conn: sqlite3.Connection) -> None:
    """Schema 2: absolute folder paths (written before) become ``datasets/NAME`` / ``experiments/NAME``."""
    for table in FOLDER_TABLES:
        for name, path in conn.execute(f"SELECT name, path FROM {table}").fetchall():
            stored = PurePath(path)
            if stored.is_absolute() and stored.parent.name == table:
                conn.execute(
                    f"UPDATE {table} SET path = ? WHERE name = ?",
                    (f"{table}/{stored.name}", name),
                )


MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    """
    CREATE TABLE datasets (
        name TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        format TEXT NOT NULL,
        source TEXT NOT NULL,
        rows INTEGER NOT NULL,
        conversations INTEGER NOT NULL,
        train_conversations INTEGER NOT NULL,
        validation_conversations INTEGER NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE experiments (
        name TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        dataset TEXT,
        problem_type TEXT NOT NULL,
        backbone TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE backbones (
        name TEXT PRIMARY KEY,
        location TEXT NOT NULL,
        added TEXT NOT NULL
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    _relative_folders,
)
Record = TypeVar("Record", "DatasetRecord", "ExperimentRecord")


def now_iso() -> str:
    """Current UTC time, to the second, ISO 8601."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class DatasetRecord:
    """One imported dataset."""

    name: str
    path: str
    format: str
    source: str
    rows: int
    conversations: int
    train_conversations: int
    validation_conversations: int
    created: str


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment; its status is derived from its folder, never stored."""

    name: str
    path: str
    dataset: str | None
    problem_type: str
    backbone: str
    created: str


@dataclass(frozen=True)
class BackboneRecord:
    """A backbone the user added by path or hub id."""

    name: str
    location: str
    added: str


class Catalog:
    """Access to ``catalog.sqlite``; each call opens a short connection, fit for any thread or process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = Path(path).parent  # the working directory
        if self._emptied():
            raise self._damaged("it is empty, while dataset or experiment folders exist")
        try:
            self.migrate()
        except sqlite3.OperationalError as error:  # locked, read-only, missing folder: the file may be fine
            raise self._unusable(error) from None
        except sqlite3.DatabaseError as error:
            raise self._damaged(str(error)) from None

    def _emptied(self) -> bool:
        """A zero-length catalogue beside registered-looking folders: an emptied file, not a new one."""
        if not self.path.is_file() or self.path.stat().st_size > 0:
            return False
        return any(
            not entry.name.startswith(".")
            for table in FOLDER_TABLES
            if (self.root / table).is_dir()
            for entry in (self.root / table).iterdir()
        )

    def _damaged(self, why: str) -> CatalogDamagedError:
        return CatalogDamagedError(
            f"the catalogue {self.path} is damaged ({why}); 'studio-desktop repair' keeps it aside and "
            "registers the dataset and experiment folders again."
        )

    def inside(self, path: str | Path) -> Path:
        """``path`` resolved, if it lies inside the working directory; else a ``CatalogError`` (nothing
        outside it is ever written, moved or deleted through the catalogue)."""
        resolved, root = Path(path).resolve(), self.root.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            raise CatalogError(
                f"refusing to touch {path}: it is not inside the working directory {self.root} "
                "(a catalogue row must name a folder of its own working directory)."
            )
        return resolved

    def _stored(self, path: str) -> str:
        """The folder as stored: relative to the working directory."""
        return self.inside(path).relative_to(self.root.resolve()).as_posix()

    def _record(self, cls: type[Record], row: sqlite3.Row) -> Record:
        """A row as a record whose folder is an absolute path in this working directory."""
        record = cls(**dict(row))
        folder = Path(record.path)
        return dataclasses.replace(record, path=str(folder if folder.is_absolute() else self.root / folder))

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in WAL mode that commits on success and rolls back on error."""
        try:
            conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT)
        except sqlite3.OperationalError as error:
            raise self._unusable(error) from None
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            with conn:
                yield conn
        except sqlite3.OperationalError as error:
            raise self._unusable(error) from None
        finally:
            conn.close()

    def _unusable(self, error: sqlite3.OperationalError) -> CatalogError:
        """A clear sentence for a catalogue that is locked, read-only or cannot be opened."""
        text = str(error)
        if "locked" in text:
            why = (
                f"another process has held it locked for {LOCK_TIMEOUT:.0f} s; close other copies of the app"
            )
        elif "readonly" in text or "read-only" in text:
            why = "it is read-only; make the working directory writable or choose another with --workdir"
        else:
            why = f"{text}; check that the working directory exists and is writable"
        return CatalogError(f"cannot use the catalogue {self.path}: {why}.")

    @property
    def schema_version(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this file has not seen yet, each in one transaction."""
        with self.connect() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise CatalogError(
                f"{self.path} was written by a newer version of Studio Desktop (schema {version}); "
                "update the app or choose another working directory."
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT)
            try:
                if callable(step):
                    with conn:
                        step(conn)
                        conn.execute(f"PRAGMA user_version = {number}")
                else:
                    conn.executescript(f"BEGIN;\n{step}\nPRAGMA user_version = {number};\nCOMMIT;")
            finally:
                conn.close()

    def add_dataset(self, record: DatasetRecord) -> None:
        """Register an imported dataset; its name must be new."""
        try:
            with self.connect() as conn:
                conn.execute(
                    "INSERT INTO datasets VALUES (:name, :path, :format, :source, :rows, :conversations, "
                    ":train_conversations, :validation_conversations, :created)",
                    record.__dict__ | {"path": self._stored(record.path)},
                )
        except sqlite3.IntegrityError:
            raise CatalogError(
                f"a dataset named {record.name!r} already exists; pick another --name."
            ) from None

    def datasets(self) -> list[DatasetRecord]:
        """Every dataset, newest first."""
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM datasets ORDER BY created DESC, name").fetchall()
        return [self._record(DatasetRecord, row) for row in rows]

    def dataset(self, name: str) -> DatasetRecord:
        """One dataset by name."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise CatalogError(f"no dataset named {name!r}; 'studio-desktop dataset list' shows the names.")
        return self._record(DatasetRecord, row)

    def has_dataset(self, name: str) -> bool:
        with self.connect() as conn:
            return conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone() is not None

    def experiments_using(self, dataset: str) -> list[str]:
        """Names of experiments trained on a dataset."""
        with self.connect() as conn:
            rows = conn.execute("SELECT name FROM experiments WHERE dataset = ? ORDER BY name", (dataset,))
            return [row[0] for row in rows]

    def remove_dataset(self, name: str) -> None:
        """Unregister a dataset; refused while an experiment uses it."""
        self.dataset(name)
        users = self.experiments_using(name)
        if users:
            raise CatalogError(
                f"dataset {name!r} is used by experiment(s) {', '.join(users)}; delete them first."
            )
        with self.connect() as conn:
            conn.execute("DELETE FROM datasets WHERE name = ?", (name,))

    def add_experiment(self, record: ExperimentRecord) -> None:
        """Register an experiment; its name must be new."""
        try:
            with self.connect() as conn:
                conn.execute(
                    "INSERT INTO experiments VALUES "
                    "(:name, :path, :dataset, :problem_type, :backbone, :created)",
                    record.__dict__ | {"path": self._stored(record.path)},
                )
        except sqlite3.IntegrityError:
            raise CatalogError(
                f"an experiment named {record.name!r} already exists; pick another name."
            ) from None

    def experiments(self) -> list[ExperimentRecord]:
        """Every experiment, newest first."""
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM experiments ORDER BY created DESC, name").fetchall()
        return [self._record(ExperimentRecord, row) for row in rows]

    def experiment(self, name: str) -> ExperimentRecord:
        """One experiment by name."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise CatalogError(
                f"no experiment named {name!r}; 'studio-desktop experiment list' shows the names."
            )
        return self._record(ExperimentRecord, row)

    def has_experiment(self, name: str) -> bool:
        with self.connect() as conn:
            return conn.execute("SELECT 1 FROM experiments WHERE name = ?", (name,)).fetchone() is not None

    def rename_experiment(self, old: str, new: str, new_path: str) -> None:
        """Change an experiment's name and folder path."""
        try:
            with self.connect() as conn:
                changed = conn.execute(
                    "UPDATE experiments SET name = ?, path = ? WHERE name = ?",
                    (new, self._stored(new_path), old),
                ).rowcount
        except sqlite3.IntegrityError:
            raise CatalogError(f"an experiment named {new!r} already exists.") from None
        if changed == 0:
            raise CatalogError(f"no experiment named {old!r}.")

    def remove_experiment(self, name: str) -> None:
        with self.connect() as conn:
            if conn.execute("DELETE FROM experiments WHERE name = ?", (name,)).rowcount == 0:
                raise CatalogError(f"no experiment named {name!r}.")

    def add_backbone(self, name: str, location: str) -> BackboneRecord:
        """Remember a backbone location under a name."""
        record = BackboneRecord(name=name, location=location, added=now_iso())
        try:
            with self.connect() as conn:
                conn.execute("INSERT INTO backbones VALUES (:name, :location, :added)", record.__dict__)
        except sqlite3.IntegrityError:
            raise CatalogError(f"a backbone named {name!r} is already registered.") from None
        return record

    def backbones(self) -> list[BackboneRecord]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM backbones ORDER BY name").fetchall()
        return [BackboneRecord(**dict(row)) for row in rows]

    def backbone_location(self, spec: str) -> str:
        """The location registered under ``spec``, or ``spec`` itself when it is not a registered name."""
        with self.connect() as conn:
            row = conn.execute("SELECT location FROM backbones WHERE name = ?", (spec,)).fetchone()
        return row[0] if row else spec

    def remove_backbone(self, name: str) -> None:
        with self.connect() as conn:
            if conn.execute("DELETE FROM backbones WHERE name = ?", (name,)).rowcount == 0:
                raise CatalogError(f"no backbone named {name!r} is registered.")

    def get_setting(self, key: str, default: Any = None) -> Any:
        """A small persisted value (JSON)."""
        with self.connect() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO settings VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
