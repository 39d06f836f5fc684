"""Kill -9 the training worker at random moments; resuming always finishes the run with the same result."""

from __future__ import annotations

import math
import os
import random
import signal
import time
from pathlib import Path

import pytest

from studio_desktop.core.events import Finished, Metric, Started
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.launcher import start_training_worker
from studio_desktop.worker.train import EXIT_FINISHED, run_training

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10


def final_train_loss(experiment) -> float:
    losses = [
        e.values["train/loss"]
        for e in experiment.events()
        if isinstance(e, Metric) and "train/loss" in e.values
    ]
    return losses[-1]


@pytest.mark.slow
def test_random_kills_then_resume_finish_the_run(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    # Long enough (about 20 s of training here) that ten kills, each at most 1 s after a start, land mid-run.
    settings = {"training__epochs": 200, "training__evaluation_epochs": 1.0, "training__lora_dropout": 0.0}
    reference = create_experiment(wd, catalog, make_config("reference", **settings))
    assert run_training(wd.root, reference.path) == EXIT_FINISHED
    expected = final_train_loss(reference)

    rng = random.Random(20261125)
    experiment = create_experiment(wd, catalog, make_config("killed", **settings))
    kills = 0
    for _ in range(KILLS + 20):
        starts = sum(isinstance(e, Started) for e in experiment.events())
        process = start_training_worker(wd.root, experiment.path, resume=kills > 0)
        deadline = time.monotonic() + 120
        while sum(isinstance(e, Started) for e in experiment.events()) == starts and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        if process.poll() is None and kills < KILLS:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            assert experiment.status() == "crashed"
            continue
        assert process.wait(timeout=300) == EXIT_FINISHED
        break
    assert kills == KILLS
    assert experiment.status() == "finished"
    assert isinstance(experiment.events()[-1], Finished)
    assert (experiment.model_dir / "adapter_config.json").exists()
    assert math.isclose(final_train_loss(experiment), expected, rel_tol=1e-3)
