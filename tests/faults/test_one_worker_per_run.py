"""One run folder, one worker: a second start is refused before it writes anything; a resumed run is
followed from its new start."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from studio_desktop.core.config_io import save_config
from studio_desktop.core.errors import CatalogError
from studio_desktop.core.events import Started
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.launcher import start_training_worker, worker_command
from studio_desktop.worker.exits import EXIT_BUSY, EXIT_FINISHED
from tests.support.cli import child_env, cli
from tests.worker.test_training import ROOT


def wait_until_started(experiment, process) -> None:
    deadline = time.monotonic() + 120
    while not any(isinstance(e, Started) for e in experiment.events()):
        assert process.poll() is None and time.monotonic() < deadline, experiment.log_path.read_text()
        time.sleep(0.05)


@pytest.mark.slow
def test_a_second_start_of_a_running_experiment_is_refused(trained_workdir, make_config, tmp_path) -> None:
    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    experiment = create_experiment(wd, catalog, make_config("busy", training__epochs=40))
    first = start_training_worker(wd.root, experiment.path)
    try:
        wait_until_started(experiment, first)
        with pytest.raises(CatalogError, match=rf"already running \(pid {first.pid}\)"):
            start_training_worker(wd.root, experiment.path, resume=True)
        assert experiment.worker_record()["pid"] == first.pid  # the record still names the first worker
        # A worker started by hand does not touch the run either.
        size = experiment.events_path.stat().st_size
        command = worker_command(wd.root, experiment.path, resume=True)
        direct = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert direct.returncode == EXIT_BUSY and "already running" in direct.stderr
        assert experiment.events_path.stat().st_size >= size
        assert sum(isinstance(e, Started) for e in experiment.events()) == 1
        # And so does the command line.
        refused = cli(wd.root, "train", "--resume", "busy")
        assert refused.returncode != 0 and "already running" in refused.stderr
    finally:
        experiment.request_stop()
        first.wait(timeout=300)
    experiment.stop_path.unlink()
    again = start_training_worker(wd.root, experiment.path, resume=True)  # the lock went with the worker
    assert again.wait(timeout=300) == EXIT_FINISHED


@pytest.mark.slow
def test_a_resumed_run_is_followed_from_its_new_start(trained_workdir, make_config, tmp_path) -> None:
    wd, _catalog = trained_workdir
    config = save_config(make_config("followed", training__epochs=1), tmp_path / "cfg.yaml")
    env = child_env(STUDIO_DESKTOP_WORKDIR=None)
    first = cli(wd.root, "train", "--config", str(config), env=env)
    assert first.returncode == 0, first.stderr
    events = wd.experiments / "followed" / "events.jsonl"
    before = len(events.read_text(encoding="utf-8").splitlines())
    resumed = subprocess.run(
        [sys.executable, "-m", "studio_desktop", "--workdir", str(wd.root), "train", "--resume", "followed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "training " in resumed.stderr  # the new run's start was shown, not only the old final event
    after = events.read_text(encoding="utf-8").splitlines()
    assert len(after) > before and '"kind":"finished"' in after[-1]
    assert resumed.stderr.count("finished at step") == 1
