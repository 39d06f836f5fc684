"""Experiment folders: creation, derived status with real processes, stop requests, rename and delete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from studio_desktop.core.config import default_config
from studio_desktop.core.config_io import load_config
from studio_desktop.core.errors import CatalogError
from studio_desktop.core.events import EventWriter, Failed, Finished, Progress
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import (
    Experiment,
    create_experiment,
    delete_experiment,
    open_experiment,
    rename_experiment,
)
from studio_desktop.jobs.workdir import open_workdir


@pytest.fixture
def store(workdir: Path):
    wd = open_workdir()
    return wd, Catalog(wd.catalog_path)


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def write(experiment: Experiment, *events: object) -> None:
    writer = EventWriter(experiment.events_path)
    for event in events:
        writer.emit(event)  # type: ignore[arg-type]
    writer.close()


def test_create_freezes_config_and_registers(store) -> None:
    wd, catalog = store
    cfg = default_config().replace({"experiment_name": "first", "training.lora_r": 4})
    experiment = create_experiment(wd, catalog, cfg)
    assert experiment.path == wd.experiments / "first"
    assert load_config(experiment.config_path).config == cfg
    assert catalog.experiment("first").backbone == cfg.llm_backbone
    assert experiment.status() == "created"
    with pytest.raises(CatalogError, match="already exists"):
        create_experiment(wd, catalog, cfg)


def test_generated_names_are_unique(store) -> None:
    wd, catalog = store
    names = {create_experiment(wd, catalog, default_config()).name for _ in range(5)}
    assert len(names) == 5
    assert all("-" in name for name in names)


def test_status_follows_events_and_process(store) -> None:
    wd, catalog = store
    experiment = create_experiment(wd, catalog, default_config().replace({"experiment_name": "run"}))
    process = sleeper()
    try:
        experiment.record_worker(process.pid)
        assert experiment.status() == "starting"
        write(
            experiment,
            Progress(
                step=1, total_steps=5, epoch=0.2, samples=2, tokens=10, tokens_per_second=1.0, eta_seconds=4.0
            ),
        )
        assert experiment.status() == "running"
        experiment.request_stop()
        assert experiment.status() == "stopping"
        with pytest.raises(CatalogError, match="still running"):
            delete_experiment(catalog, "run")
    finally:
        process.kill()
        process.wait()
    assert experiment.status() == "crashed"
    write(experiment, Finished(status="stopped", step=1))
    assert experiment.status() == "stopped"


def test_reused_pid_is_not_taken_for_the_worker(store) -> None:
    wd, catalog = store
    experiment = create_experiment(wd, catalog, default_config().replace({"experiment_name": "old"}))
    process = sleeper()
    try:
        experiment.record_worker(process.pid)
        info = experiment.pid_path.read_text().replace('"create_time": ', '"create_time": 1')
        experiment.pid_path.write_text(info)
        assert experiment.status() == "crashed"
    finally:
        process.kill()
        process.wait()


def test_failed_and_finished(store) -> None:
    wd, catalog = store
    failed = create_experiment(wd, catalog, default_config().replace({"experiment_name": "bad"}))
    write(failed, Failed(failure="data", message="broken"))
    assert failed.status() == "failed"
    done = create_experiment(wd, catalog, default_config().replace({"experiment_name": "good"}))
    write(done, Finished(status="finished", step=9))
    assert done.status() == "finished"


def test_latest_checkpoint_needs_a_complete_folder(store) -> None:
    wd, catalog = store
    experiment = create_experiment(wd, catalog, default_config().replace({"experiment_name": "ck"}))
    for step, complete in ((2, True), (10, True), (12, False)):
        folder = experiment.checkpoints_dir / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert experiment.latest_checkpoint() == experiment.checkpoints_dir / "checkpoint-10"


def test_rename_and_delete(store) -> None:
    wd, catalog = store
    create_experiment(wd, catalog, default_config().replace({"experiment_name": "a"}))
    renamed = rename_experiment(wd, catalog, "a", "b")
    assert renamed.path == wd.experiments / "b" and renamed.path.is_dir()
    assert not (wd.experiments / "a").exists()
    assert renamed.config().experiment_name == "b"
    assert open_experiment(catalog, "b").path == renamed.path
    delete_experiment(catalog, "b")
    assert not renamed.path.exists()
    assert catalog.experiments() == []


def test_a_resumed_run_is_running_despite_the_earlier_final_event(store) -> None:
    wd, catalog = store
    experiment = create_experiment(wd, catalog, default_config().replace({"experiment_name": "again"}))
    write(experiment, Finished(status="stopped", step=3, time=1.0))
    assert experiment.status() == "stopped"
    process = sleeper()
    try:
        experiment.record_worker(process.pid)
        assert experiment.status() == "starting"
        write(
            experiment,
            Progress(
                step=4, total_steps=9, epoch=0.5, samples=8, tokens=40, tokens_per_second=1.0, eta_seconds=2.0
            ),
        )
        assert experiment.status() == "running"
    finally:
        process.kill()
        process.wait()
    assert experiment.status() == "crashed"
    write(experiment, Finished(status="finished", step=9))
    assert experiment.status() == "finished"
