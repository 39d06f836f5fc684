"""A working directory refers only to its own folders: copies, moves and bad catalogue rows never reach
another one's data."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from studio_desktop.core.config import default_config
from studio_desktop.core.errors import CatalogError
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.datasets import delete_dataset
from studio_desktop.jobs.experiment import create_experiment, delete_experiment, rename_experiment
from studio_desktop.jobs.workdir import open_workdir


def test_deleting_in_a_copied_workdir_leaves_the_original_alone(trained_workdir, tmp_path: Path) -> None:
    wd, catalog = trained_workdir
    create_experiment(
        wd, catalog, default_config().replace({"experiment_name": "run", "dataset.train_dataframe": "facts"})
    )
    copy = open_workdir(shutil.copytree(wd.root, tmp_path / "copy", symlinks=True))
    copied = Catalog(copy.catalog_path)
    assert Path(copied.experiment("run").path) == copy.experiments / "run"
    delete_experiment(copied, "run")
    delete_dataset(copied, "facts")
    assert not (copy.experiments / "run").exists() and not (copy.datasets / "facts").exists()
    assert (wd.experiments / "run").is_dir() and any((wd.experiments / "run").iterdir())
    assert any((wd.datasets / "facts").iterdir())
    assert catalog.has_experiment("run") and catalog.has_dataset("facts")


def test_a_catalogue_written_with_absolute_folders_follows_the_workdir_it_is_in(
    workdir: Path, tmp_path: Path
) -> None:
    """Schema 1 stored absolute folders; a workdir moved elsewhere after that still finds its own."""
    moved = tmp_path / "moved"
    (moved / "experiments" / "old-run").mkdir(parents=True)
    with sqlite3.connect(moved / "catalog.sqlite") as conn:
        from studio_desktop.jobs.catalog import MIGRATIONS

        conn.executescript(MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
        old = "/somewhere/else/experiments/old-run"
        conn.execute("INSERT INTO experiments VALUES ('old-run', ?, NULL, 'x', 'm', 'now')", (old,))
    catalog = Catalog(moved / "catalog.sqlite")
    assert Path(catalog.experiment("old-run").path) == moved / "experiments" / "old-run"
    with sqlite3.connect(moved / "catalog.sqlite") as conn:
        assert conn.execute("SELECT path FROM experiments").fetchone()[0] == "experiments/old-run"


def test_a_catalogue_row_pointing_outside_the_workdir_deletes_nothing(
    trained_workdir, tmp_path: Path
) -> None:
    wd, catalog = trained_workdir
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "thesis.txt").write_text("do not delete", encoding="utf-8")
    with catalog.connect() as conn:
        conn.execute("UPDATE datasets SET path = ? WHERE name = 'facts'", (str(outside),))
    with pytest.raises(CatalogError, match="not inside the working directory"):
        delete_dataset(catalog, "facts")
    assert (outside / "thesis.txt").read_text(encoding="utf-8") == "do not delete"
    assert catalog.has_dataset("facts")
    (wd.datasets / "linked").symlink_to(outside)  # a folder inside that resolves outside
    with catalog.connect() as conn:
        conn.execute("UPDATE datasets SET path = 'datasets/linked' WHERE name = 'facts'")
    with pytest.raises(CatalogError, match="not inside the working directory"):
        delete_dataset(catalog, "facts")
    assert (outside / "thesis.txt").exists()


def test_a_rename_the_catalogue_refuses_leaves_the_run_where_it_was(trained_workdir) -> None:
    wd, catalog = trained_workdir
    config = default_config().replace({"experiment_name": "first", "dataset.train_dataframe": "facts"})
    experiment = create_experiment(wd, catalog, config)
    with catalog.connect() as conn:  # a row without its folder (as a crash could leave)
        conn.execute("INSERT INTO experiments VALUES ('taken', 'experiments/taken', NULL, 'x', 'm', 'now')")
    with pytest.raises(CatalogError, match="already exists"):
        rename_experiment(wd, catalog, "first", "taken")
    assert experiment.path.is_dir() and not (wd.experiments / "taken").exists()
    assert Path(catalog.experiment("first").path) == experiment.path
