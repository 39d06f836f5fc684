"""The disk fills up while the training worker writes a checkpoint: a clear failed event, the previous
checkpoint intact, the half-written one never resumed from, and resuming once there is space finishes the run.

Two ways to fill the disk, both inside a real worker process:

- ``small-disk``: the experiment's checkpoints folder is a tmpfs with room for one checkpoint and a half,
  so the second checkpoint hits a real ENOSPC wherever it happens to be (needs permission to mount; skipped
  without it);
- ``injected``: ``tests/support/no_space/sitecustomize.py`` makes the write of the second checkpoint's
  ``trainer_state.json`` (its last file) fail halfway with ENOSPC, leaving a truncated file behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from studio_desktop.core.events import Checkpoint, Failed, Finished, Log, Metric, Started
from studio_desktop.jobs.experiment import Experiment, create_experiment
from studio_desktop.jobs.launcher import start_training_worker
from studio_desktop.jobs.run_state import RunTracker
from studio_desktop.worker.train import EXIT_FAILED, EXIT_FINISHED, run_training

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "support" / "no_space"
PAGE = 4096
# Two epochs of four steps, evaluated and checkpointed every epoch: checkpoint-4, then checkpoint-8 (which
# replaces checkpoint-4 only once it is complete).
SETTINGS = {"training__epochs": 2, "training__evaluation_epochs": 1.0, "training__save_checkpoint": "last"}


def final_train_loss(experiment: Experiment) -> float:
    losses = [
        e.values["train/loss"]
        for e in experiment.events()
        if isinstance(e, Metric) and "train/loss" in e.values
    ]
    return losses[-1]


def folder_pages(folder: Path) -> int:
    """Bytes a folder takes on a tmpfs (whole pages per file, one for the folder)."""
    return PAGE + sum(math.ceil(f.stat().st_size / PAGE) * PAGE for f in folder.iterdir())


def mount(*args: str) -> bool:
    try:
        return subprocess.run(["mount", *args], check=False, capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


def can_mount_a_tmpfs(folder: Path) -> bool:
    folder.mkdir()
    mounted = mount("-t", "tmpfs", "-o", "size=64k", "studio-test-probe", str(folder))
    if mounted:
        subprocess.run(["umount", str(folder)], check=False, capture_output=True, timeout=30)
    return mounted


@contextmanager
def small_disk(folder: Path, size: int) -> Iterator[None]:
    """A tmpfs of ``size`` bytes mounted on ``folder``."""
    folder.mkdir(parents=True)
    assert mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "studio-test-disk", str(folder))
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True, timeout=30)


@contextmanager
def disk_filling_up(
    fault: str, experiment: Experiment, checkpoint_size: int, monkeypatch
) -> Iterator[Callable[[], None]]:
    """Workers started inside run out of space at their second checkpoint, until the yielded function
    makes room."""
    if fault == "small-disk":
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
        folder = experiment.checkpoints_dir

        def make_room() -> None:
            assert mount("-o", f"remount,size={checkpoint_size * 5}", str(folder))

        with small_disk(folder, checkpoint_size * 3 // 2):
            yield make_room
    else:
        monkeypatch.setenv("PYTHONPATH", f"{SHIM}{os.pathsep}{ROOT}")
        monkeypatch.setenv("STUDIO_TEST_NO_SPACE_IN", "checkpoint-8")
        yield lambda: monkeypatch.delenv("STUDIO_TEST_NO_SPACE_IN")


def plant_half_written_checkpoint(complete: Path, step: int) -> Path:
    """A copy of ``complete`` as step ``step`` whose trainer state was cut short (as by a kill -9)."""
    folder = shutil.copytree(complete, complete.with_name(f"checkpoint-{step}"))
    state = folder / "trainer_state.json"
    state.write_bytes(state.read_bytes()[:100])
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["small-disk", "injected"])
def test_a_full_disk_during_a_checkpoint_fails_clearly_and_resumes(
    fault, trained_workdir, make_config, monkeypatch, qtbot
) -> None:
    wd, catalog = trained_workdir
    if fault == "small-disk" and not can_mount_a_tmpfs(wd.root.parent / "probe"):
        pytest.skip("mounting a size-limited tmpfs needs root (CAP_SYS_ADMIN)")
    reference = create_experiment(wd, catalog, make_config("reference", **SETTINGS))
    assert run_training(wd.root, reference.path) == EXIT_FINISHED
    checkpoint_size = folder_pages(reference.checkpoints_dir / "checkpoint-8")

    experiment = create_experiment(wd, catalog, make_config("full-disk", **SETTINGS))
    checkpoints = experiment.checkpoints_dir
    with disk_filling_up(fault, experiment, checkpoint_size, monkeypatch) as make_room:
        process = start_training_worker(wd.root, experiment.path)
        assert process.wait(timeout=300) == EXIT_FAILED, experiment.log_path.read_text()

        events = experiment.events()
        failed = events[-1]
        assert isinstance(failed, Failed), events[-3:]
        assert failed.failure == "disk-full"
        assert failed.message.startswith(f"No space left on device while writing checkpoint {checkpoints}")
        assert str(checkpoints / "checkpoint-8") in failed.message
        assert "previous checkpoint (checkpoint-4) is intact" in failed.message
        assert "free some space" in failed.message and "resume" in failed.message
        assert "Traceback" not in failed.message and "Traceback" in failed.details
        assert [e.step for e in events if isinstance(e, Checkpoint)] == [4]
        assert experiment.status() == "failed"

        # The half-written checkpoint is gone; the previous one is complete and loadable.
        assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-4"]
        assert experiment.latest_checkpoint() == checkpoints / "checkpoint-4"
        state = json.loads((checkpoints / "checkpoint-4" / "trainer_state.json").read_text())
        assert state["global_step"] == 4
        from safetensors.torch import load_file

        weights = load_file(checkpoints / "checkpoint-4" / "adapter_model.safetensors")
        assert weights and all(t.isfinite().all() for t in weights.values())

        # What the window shows: the run is failed and its log ends with the message.
        tracker = RunTracker(experiment)
        tracker.poll()
        assert tracker.state.final == failed
        from studio_desktop.gui.tabs.experiments import ExperimentsTab

        tab = ExperimentsTab(wd, catalog)
        qtbot.addWidget(tab)
        tab.select_experiment("full-disk")
        assert tab.log_view.toPlainText().splitlines()[-1] == f"[failed] {failed.message}"

        # Space again: resuming passes over a half-written checkpoint (one a killed worker could not clean
        # up), continues from checkpoint-4 and finishes like an unbroken run.
        make_room()
        planted = plant_half_written_checkpoint(checkpoints / "checkpoint-4", 6)
        resumed = start_training_worker(wd.root, experiment.path, resume=True)
        assert resumed.wait(timeout=300) == EXIT_FINISHED, experiment.log_path.read_text()
        assert not planted.exists()
    events = experiment.events()
    assert [e.resumed_from_step for e in events if isinstance(e, Started)] == [0, 4]
    assert any(isinstance(e, Log) and e.message.startswith("Deleted checkpoint-6") for e in events)
    assert isinstance(events[-1], Finished) and experiment.status() == "finished"
    assert (experiment.model_dir / "adapter_config.json").exists()
    assert math.isclose(final_train_loss(experiment), final_train_loss(reference), rel_tol=1e-4)


def test_a_half_written_checkpoint_is_never_resumed_from(tmp_path: Path) -> None:
    experiment = Experiment(tmp_path / "run")
    for step, state in ((4, '{"global_step": 4}'), (6, ""), (8, '{"global_st'), (10, None)):
        folder = experiment.checkpoints_dir / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"\0" * 16)
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert experiment.latest_checkpoint() == experiment.checkpoints_dir / "checkpoint-4"
    assert [p.name for p in experiment.incomplete_checkpoints()] == [
        "checkpoint-6",
        "checkpoint-8",
        "checkpoint-10",
    ]
