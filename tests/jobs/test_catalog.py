"""SQLite catalogue: migrations, WAL, datasets, backbones and settings, on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from studio_desktop.core.errors import CatalogError
from studio_desktop.jobs.catalog import MIGRATIONS, Catalog, DatasetRecord, now_iso


def record(name: str, root: Path) -> DatasetRecord:
    return DatasetRecord(name, str(root / "datasets" / name), "alpaca", "/src.json", 10, 9, 8, 1, now_iso())


def test_new_file_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    assert catalog.schema_version == len(MIGRATIONS)
    with sqlite3.connect(tmp_path / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"datasets", "experiments", "backbones", "settings"} <= tables


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    Catalog(tmp_path / "c.sqlite").add_dataset(record("a", tmp_path))
    again = Catalog(tmp_path / "c.sqlite")
    assert [r.name for r in again.datasets()] == ["a"]
    assert again.schema_version == len(MIGRATIONS)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(CatalogError, match="newer version"):
        Catalog(path)


def test_datasets(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.add_dataset(record("a", tmp_path))
    with pytest.raises(CatalogError, match="already exists"):
        catalog.add_dataset(record("a", tmp_path))
    assert catalog.dataset("a").rows == 10
    assert catalog.has_dataset("a") and not catalog.has_dataset("b")
    with pytest.raises(CatalogError, match="no dataset named 'b'"):
        catalog.dataset("b")
    catalog.remove_dataset("a")
    assert catalog.datasets() == []


def test_a_dataset_in_use_cannot_be_removed(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.add_dataset(record("a", tmp_path))
    with catalog.connect() as conn:
        conn.execute(
            "INSERT INTO experiments VALUES ('exp1', '/e', 'a', 'text_causal_language_modeling', 'm', 'now')"
        )
    with pytest.raises(CatalogError, match="used by experiment\\(s\\) exp1"):
        catalog.remove_dataset("a")
    assert catalog.has_dataset("a")


def test_backbones_and_settings(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    catalog.add_backbone("tiny", "/models/tiny")
    with pytest.raises(CatalogError, match="already registered"):
        catalog.add_backbone("tiny", "/elsewhere")
    assert catalog.backbone_location("tiny") == "/models/tiny"
    assert catalog.backbone_location("owner/model") == "owner/model"
    catalog.remove_backbone("tiny")
    with pytest.raises(CatalogError, match="no backbone named"):
        catalog.remove_backbone("tiny")
    assert catalog.get_setting("k", 5) == 5
    catalog.set_setting("k", {"a": [1, 2]})
    catalog.set_setting("k", {"a": [3]})
    assert Catalog(tmp_path / "c.sqlite").get_setting("k") == {"a": [3]}
