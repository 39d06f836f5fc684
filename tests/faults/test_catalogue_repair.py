"""A damaged catalogue is detected, kept aside and rebuilt from the dataset and experiment folders."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from studio_desktop.core.config import default_config
from studio_desktop.core.errors import CatalogDamagedError
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment, create_experiment
from tests.support.cli import cli


def damage(path: Path, how: str) -> None:
    if how == "emptied":
        path.write_bytes(b"")
    else:  # cut short, as a copy interrupted halfway leaves it
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@pytest.fixture
def registered(trained_workdir):
    wd, catalog = trained_workdir
    config = default_config().replace({"experiment_name": "kept-run", "dataset.train_dataframe": "facts"})
    create_experiment(wd, catalog, config)
    with sqlite3.connect(wd.catalog_path) as conn:  # everything written to the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return wd, catalog


@pytest.mark.parametrize("how", ["emptied", "truncated"])
def test_a_damaged_catalogue_is_reported_then_rebuilt_by_repair(registered, how: str) -> None:
    wd, catalog = registered
    before = {r.name: r for r in catalog.datasets()}, {r.name: r for r in catalog.experiments()}
    damage(wd.catalog_path, how)
    with pytest.raises(CatalogDamagedError, match=r"is damaged.*studio-desktop repair"):
        Catalog(wd.catalog_path)
    listed = cli(wd.root, "dataset", "list")
    assert listed.returncode == 1 and "studio-desktop repair" in listed.stderr
    assert "Traceback" not in listed.stderr

    repaired = cli(wd.root, "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "registered 1 dataset(s): facts" in repaired.stdout
    assert "registered 1 experiment(s): kept-run" in repaired.stdout
    kept = [p for p in wd.root.iterdir() if p.name.startswith("catalog.sqlite.damaged-")]
    assert len(kept) == 1 and f"kept the damaged catalogue as {kept[0]}" in repaired.stdout

    rebuilt = Catalog(wd.catalog_path)
    datasets, experiments = before
    assert {r.name: r for r in rebuilt.datasets()} == datasets
    (run,) = rebuilt.experiments()
    assert (run.name, run.dataset, run.path, run.problem_type) == (
        "kept-run",
        "facts",
        experiments["kept-run"].path,
        experiments["kept-run"].problem_type,
    )
    again = cli(wd.root, "repair")  # nothing left to do
    assert "registered 0 dataset(s)" in again.stdout and "registered 0 experiment(s)" in again.stdout


def test_repair_lists_orphan_folders_and_says_which_it_cannot_read(registered) -> None:
    wd, catalog = registered
    catalog.remove_experiment("kept-run")  # a folder left by a crash before its catalogue row
    broken = wd.datasets / "half-imported"
    broken.mkdir()
    (broken / "meta.json").write_text("{not json", encoding="utf-8")
    repaired = cli(wd.root, "repair")
    assert repaired.returncode == 1
    assert "registered 1 experiment(s): kept-run" in repaired.stdout
    assert f"skipped {broken}:" in repaired.stdout
    assert catalog.has_experiment("kept-run") and not catalog.has_dataset("half-imported")
    assert broken.is_dir()  # reported, not changed


def test_the_window_offers_the_repair(registered, qtbot) -> None:
    from studio_desktop.gui.app import catalog_usable

    wd, _catalog = registered
    damage(wd.catalog_path, "emptied")
    questions, told = [], []
    assert not catalog_usable(wd, ask=lambda text: questions.append(text) or False, tell=told.append)
    assert "Repair it now?" in questions[0] and not told
    assert catalog_usable(wd, ask=lambda _text: True, tell=told.append)
    assert "registered 1 dataset(s): facts" in told[0]
    assert Catalog(wd.catalog_path).has_experiment("kept-run")


def test_a_locked_catalogue_is_one_clear_sentence(registered, monkeypatch) -> None:
    import studio_desktop.jobs.catalog as catalog_module
    from studio_desktop.core.errors import CatalogError

    wd, catalog = registered
    monkeypatch.setattr(catalog_module, "LOCK_TIMEOUT", 0.2)
    holder = sqlite3.connect(wd.catalog_path)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
    try:
        with pytest.raises(CatalogError, match="another process has held it locked"):
            catalog.add_dataset(
                catalog_module.DatasetRecord(
                    "more", str(wd.dataset_dir("more")), "alpaca", "/s", 1, 1, 1, 0, "now"
                )
            )
    finally:
        holder.rollback()
        holder.close()
    assert not catalog.has_dataset("more")


def read_only_view(folder: Path, view: Path) -> bool:
    """Mount ``folder`` read-only at ``view`` (a bind mount, which binds root too); False where refused."""
    import subprocess

    view.mkdir()
    bind = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True, check=False)
    if bind.returncode != 0:
        return False
    remount = ["mount", "-o", "remount,bind,ro", str(view)]
    if subprocess.run(remount, capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", str(view)], check=False)
        return False
    return True


def test_a_read_only_working_directory_gives_one_clear_sentence(registered, tmp_path) -> None:
    import subprocess

    wd, _catalog = registered
    view = tmp_path / "read-only"
    if not read_only_view(wd.root, view):
        pytest.skip("a read-only bind mount needs root (CAP_SYS_ADMIN)")
    try:
        listed = cli(view, "dataset", "list")
        deleted = cli(view, "dataset", "delete", "facts")
    finally:
        subprocess.run(["umount", str(view)], check=False)
    assert listed.returncode == 0 and "facts" in listed.stdout, listed.stderr  # reading works
    assert deleted.returncode == 1 and "Traceback" not in deleted.stderr, deleted.stderr
    assert deleted.stderr.count("error:") == 1 and "read-only" in deleted.stderr.lower(), deleted.stderr
    assert (wd.datasets / "facts").is_dir()


def test_a_run_with_a_wrongly_shaped_event_line_is_still_listed_and_shown(registered) -> None:
    import json

    from studio_desktop.core.events import EventWriter, Finished

    wd, catalog = registered
    experiment = Experiment(Path(catalog.experiment("kept-run").path))
    with experiment.events_path.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "metric", "step": "seven", "values": [1, 2]}\n')
    writer = EventWriter(experiment.events_path)
    writer.emit(Finished(status="finished", step=3))
    writer.close()
    listed = cli(wd.root, "experiment", "list")
    assert listed.returncode == 0 and "kept-run" in listed.stdout, listed.stderr
    shown = cli(wd.root, "experiment", "show", "kept-run", "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["status"] == "finished" and info["unreadable_event_lines"] == 1
