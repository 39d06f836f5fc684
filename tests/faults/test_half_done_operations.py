"""What a process killed in the middle of a delete or a folder write leaves is finished or undone later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio_desktop.core.errors import CatalogError
from studio_desktop.core.files import clear_leftovers, write_folder
from studio_desktop.jobs.datasets import delete_dataset
from studio_desktop.jobs.workdir import TOMBSTONE_PREFIX, delete_folder, open_workdir


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_refused_unregistration_puts_the_folder_back(tmp_path: Path) -> None:
    folder = tmp_path / "datasets" / "kept"
    folder.mkdir(parents=True)
    (folder / "data.parquet").write_text("rows", encoding="utf-8")

    def refuse() -> None:
        raise CatalogError("in use")

    with pytest.raises(CatalogError, match="in use"):
        delete_folder(folder, refuse)
    assert (folder / "data.parquet").read_text(encoding="utf-8") == "rows"
    assert [p.name for p in folder.parent.iterdir()] == ["kept"]


def test_a_dataset_in_use_keeps_its_folder_and_a_deleted_one_leaves_nothing(trained_workdir) -> None:
    wd, catalog = trained_workdir
    with catalog.connect() as conn:
        conn.execute("INSERT INTO experiments VALUES ('user', 'experiments/user', 'facts', 'x', 'm', 'now')")
    with pytest.raises(CatalogError, match="used by experiment"):
        delete_dataset(catalog, "facts")
    assert any((wd.datasets / "facts").iterdir())
    catalog.remove_experiment("user")
    delete_dataset(catalog, "facts")
    assert list(wd.datasets.iterdir()) == []


def test_tombstones_of_killed_deletes_are_removed_at_the_next_start(workdir: Path) -> None:
    wd = open_workdir()
    killed = wd.experiments / f"{TOMBSTONE_PREFIX}{dead_pid()}-old-run"
    running = wd.experiments / f"{TOMBSTONE_PREFIX}{os.getpid()}-being-deleted"
    for folder in (killed, running):
        (folder / "checkpoints").mkdir(parents=True)
    open_workdir()
    assert not killed.exists() and running.exists()


def test_a_killed_folder_write_is_cleared_and_a_killed_swap_undone(tmp_path: Path) -> None:
    target = tmp_path / "export"
    pid = dead_pid()
    half = tmp_path / f".export.tmp-{pid}-0a1b"
    earlier = tmp_path / f".export.old-{pid}-2c3d"
    half.mkdir()
    earlier.mkdir()
    (earlier / "model.safetensors").write_text("earlier export", encoding="utf-8")
    clear_leftovers(target)  # killed between setting the earlier export aside and moving the new one in
    assert not half.exists() and not earlier.exists()
    assert (target / "model.safetensors").read_text(encoding="utf-8") == "earlier export"
    write_folder(target, lambda work: (work / "model.safetensors").write_text("new", encoding="utf-8"))
    assert (target / "model.safetensors").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
