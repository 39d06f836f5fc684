"""Running out of memory during training: the supervisor resumes from the last checkpoint with half the
micro-batch and twice the accumulation, at most twice, and reports what it did.

``tests/support/out_of_memory/sitecustomize.py`` makes the training steps of a real worker run out of memory
from a chosen step on while the micro-batch is above a size: as a failed allocation (what CUDA raises), or
for real, by the kernel's OOM killer inside a small memory cgroup (needs root and a writable cgroup; skipped
otherwise).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from studio_desktop.core.events import Failed, Finished, Log, Progress
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.launcher import start_training_worker
from studio_desktop.worker.exits import EXIT_FAILED, EXIT_FINISHED, EXIT_OUT_OF_MEMORY
from studio_desktop.worker.supervisor import oom_kills, ran_out_of_memory, smaller_batch
from tests.worker.test_training import ROOT

SHIM = Path(__file__).resolve().parents[1] / "support" / "out_of_memory"
# 8 training questions, micro-batch 4: 2 steps an epoch, a checkpoint after each epoch, 8 steps in all.
SETTINGS = {
    "training__batch_size": 4,
    "training__epochs": 4,
    "training__evaluation_epochs": 1.0,
    "training__save_checkpoint": "last",
}
CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def run_out_of_memory(monkeypatch, mode: str, at_step: int, above_batch: int, cgroup: Path | None = None):
    monkeypatch.setenv("PYTHONPATH", f"{SHIM}{os.pathsep}{ROOT}")
    monkeypatch.setenv("STUDIO_TEST_OOM", mode)
    monkeypatch.setenv("STUDIO_TEST_OOM_AT_STEP", str(at_step))
    monkeypatch.setenv("STUDIO_TEST_OOM_ABOVE_BATCH", str(above_batch))
    if cgroup is not None:
        monkeypatch.setenv("STUDIO_TEST_OOM_CGROUP", str(cgroup))


def recoveries(experiment) -> list[str]:
    return [e.message for e in experiment.events() if isinstance(e, Log) and "resuming" in e.message]


def test_the_micro_batch_halves_keeping_the_effective_batch() -> None:
    from studio_desktop.core.config import default_config

    def after(batch: int, accumulation: int) -> tuple[int, int] | None:
        cfg = default_config().replace(
            {"training.batch_size": batch, "training.grad_accumulation": accumulation}
        )
        smaller = smaller_batch(cfg)
        return None if smaller is None else (smaller.training.batch_size, smaller.training.grad_accumulation)

    assert after(8, 1) == (4, 2)
    assert after(6, 2) == (3, 4)
    assert after(5, 1) == (1, 5)  # no size between 1 and 5 divides 5
    assert after(1, 4) is None


def test_an_oom_kill_is_told_from_other_ends_by_the_kernel_count(tmp_path: Path) -> None:
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("nr_free_pages 12\noom_kill 7\nnuma_hit 3\n", encoding="ascii")
    assert oom_kills(vmstat) == 7
    assert oom_kills(tmp_path / "missing") is None
    assert ran_out_of_memory(EXIT_OUT_OF_MEMORY, None, None)
    assert ran_out_of_memory(-signal.SIGKILL, 7, 8)
    assert not ran_out_of_memory(-signal.SIGKILL, 7, 7)  # killed by someone else
    assert not ran_out_of_memory(-signal.SIGKILL, None, None)
    assert not ran_out_of_memory(-signal.SIGSEGV, 7, 8)


@pytest.mark.slow
def test_a_failed_allocation_resumes_with_smaller_micro_batches_and_finishes(
    trained_workdir, make_config, monkeypatch
) -> None:
    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("oom", **SETTINGS))
    run_out_of_memory(monkeypatch, "allocation", at_step=4, above_batch=1)
    process = start_training_worker(wd.root, experiment.path)
    assert process.wait(timeout=600) == EXIT_FINISHED, experiment.log_path.read_text()[-3000:]

    messages = recoveries(experiment)
    assert len(messages) == 2, messages
    assert messages[0].startswith("Out of memory (an allocation failed) at training.batch_size 4: resuming")
    assert "from checkpoint-4 with batch_size 2 and grad_accumulation 2" in messages[0]
    assert "from checkpoint-4 with batch_size 1 and grad_accumulation 4" in messages[1]
    assert "recovery 2 of 2" in messages[1]
    events = experiment.events()
    assert isinstance(events[-1], Finished) and experiment.status() == "finished"
    # The same effective batch: the resumed run goes on from step 4 to the 8 steps of the whole run.
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps[-1] == 8 and steps.count(5) == 1
    cfg = experiment.config()
    assert (cfg.training.batch_size, cfg.training.grad_accumulation) == (1, 4)


@pytest.mark.slow
def test_out_of_memory_at_a_micro_batch_of_one_fails_saying_so(
    trained_workdir, make_config, monkeypatch
) -> None:
    wd, catalog = trained_workdir
    settings = SETTINGS | {"training__batch_size": 2, "training__epochs": 1}
    experiment = create_experiment(wd, catalog, make_config("oom-always", **settings))
    run_out_of_memory(monkeypatch, "allocation", at_step=0, above_batch=0)
    process = start_training_worker(wd.root, experiment.path)
    assert process.wait(timeout=600) == EXIT_FAILED, experiment.log_path.read_text()[-3000:]
    assert len(recoveries(experiment)) == 1  # 2 → 1, then nothing smaller is left
    failed = experiment.events()[-1]
    assert isinstance(failed, Failed) and failed.failure == "out-of-memory"
    assert failed.message.startswith("Out of memory (an allocation failed) at training.batch_size 1.")
    assert "gradient_checkpointing" in failed.message
    assert experiment.status() == "failed"


def memory_cgroup(limit: int) -> Path | None:
    """A new cgroup-v1 memory group limited to ``limit`` bytes without swap, or None where that is refused."""
    folder = CGROUP_V1 / f"studio-test-oom-{os.getpid()}"
    try:
        folder.mkdir()
        (folder / "memory.limit_in_bytes").write_text(str(limit))
        swap_limit = folder / "memory.memsw.limit_in_bytes"
        if swap_limit.exists():
            swap_limit.write_text(str(limit))
    except OSError:
        return None
    return folder


@pytest.mark.slow
def test_a_worker_killed_by_the_kernel_oom_killer_resumes_with_a_smaller_micro_batch(
    trained_workdir, make_config, monkeypatch
) -> None:
    if oom_kills() is None:
        pytest.skip("this kernel does not report its OOM kills in /proc/vmstat")
    cgroup = memory_cgroup(256 * 2**20)
    if cgroup is None:
        pytest.skip("creating a memory cgroup needs root and a writable cgroup-v1 memory hierarchy")
    try:
        wd, catalog = trained_workdir
        settings = SETTINGS | {"training__batch_size": 2, "training__epochs": 1}
        experiment = create_experiment(wd, catalog, make_config("oom-killed", **settings))
        run_out_of_memory(monkeypatch, "kernel", at_step=0, above_batch=1, cgroup=cgroup)
        process = start_training_worker(wd.root, experiment.path)
        assert process.wait(timeout=600) == EXIT_FINISHED, experiment.log_path.read_text()[-3000:]
        (message,) = recoveries(experiment)
        assert message.startswith("Out of memory (the kernel ended it) at training.batch_size 2: resuming")
        assert "with batch_size 1 and grad_accumulation 2" in message
        assert isinstance(experiment.events()[-1], Finished)
    finally:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                cgroup.rmdir()
                break
            except OSError:  # busy until the killed process is reaped
                time.sleep(0.2)
