"""The training worker's supervisor: runs each attempt in a child process and recovers from running out of
memory.

Out of memory is a CUDA/CPU allocation error the attempt reports (exit ``EXIT_OUT_OF_MEMORY``), or the
kernel's OOM killer ending it (SIGKILL while the kernel's ``oom_kill`` count rose). The supervisor then
halves the micro-batch and multiplies the gradient accumulation to keep the effective batch, saves that in
the experiment's config, logs it as an event and resumes from the last checkpoint, at most
``MAX_RECOVERIES`` times. It imports no model library, so the OOM killer picks the attempt, not it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.config_io import save_config
from studio_desktop.core.errors import CatalogError
from studio_desktop.core.events import EventWriter, Failed, Log
from studio_desktop.jobs.experiment import Experiment
from studio_desktop.jobs.launcher import app_command
from studio_desktop.jobs.run_lock import held_run_lock
from studio_desktop.worker.exits import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_OUT_OF_MEMORY,
    EXIT_STOPPED,
    OOM_HINT,
)

MAX_RECOVERIES = 2
VMSTAT = Path("/proc/vmstat")
PR_SET_PDEATHSIG = 1


def oom_kills(vmstat: Path = VMSTAT) -> int | None:
    """How many processes the kernel's OOM killer has ended since boot (None where it is not reported)."""
    try:
        for line in vmstat.read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def smaller_batch(cfg: ExperimentConfig) -> ExperimentConfig | None:
    """``cfg`` with the largest micro-batch of at most half the current one that divides it, and the
    accumulation multiplied by the same factor (same effective batch); None at a micro-batch of 1."""
    batch = cfg.training.batch_size
    smaller = next((size for size in range(batch // 2, 0, -1) if batch % size == 0), None)
    if smaller is None:
        return None
    accumulation = cfg.training.grad_accumulation * (batch // smaller)
    return cfg.replace({"training.batch_size": smaller, "training.grad_accumulation": accumulation})


def ran_out_of_memory(code: int, kills_before: int | None, kills_after: int | None) -> bool:
    """Whether an attempt that exited with ``code`` ran out of memory."""
    if code == EXIT_OUT_OF_MEMORY:
        return True
    killed = code == -signal.SIGKILL
    return killed and kills_before is not None and kills_after is not None and kills_after > kills_before


def die_with_parent(parent: int) -> None:
    """Called in an attempt's process: be killed when the supervisor ``parent`` dies (Linux), so a killed
    worker leaves no orphan that keeps training; exits at once if it has died already."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(EXIT_FAILED)


class Supervisor:
    """Runs the attempts of one training run; SIGTERM is passed on to the running attempt."""

    def __init__(self, workdir_root: Path, experiment_dir: Path) -> None:
        self.workdir_root = workdir_root
        self.experiment = Experiment(experiment_dir)
        self.attempt: subprocess.Popen | None = None
        signal.signal(signal.SIGTERM, self._forward)

    def _forward(self, signum: int, _frame: Any) -> None:
        if self.attempt is not None and self.attempt.poll() is None:
            self.attempt.send_signal(signum)

    def _run_attempt(self, resume: bool) -> int:
        args = ["worker", "train-attempt", str(self.experiment.path)]
        command = app_command([*args, "--resume"] if resume else args, self.workdir_root)
        self.attempt = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        return self.attempt.wait()

    def run(self, resume: bool) -> int:
        """Train until the run finishes, stops or fails for a reason smaller batches do not help; holds the
        run's lock meanwhile (``EXIT_BUSY`` at once when another worker holds it)."""
        try:
            lock = held_run_lock(self.experiment.path)
        except CatalogError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BUSY
        try:
            return self._train(resume)
        finally:
            os.close(lock)

    def _train(self, resume: bool) -> int:
        recoveries = 0
        while True:
            before = oom_kills()
            code = self._run_attempt(resume)
            if code in (EXIT_FINISHED, EXIT_STOPPED, EXIT_FAILED):
                return code
            if not ran_out_of_memory(code, before, oom_kills()):
                return self._fail("internal", f"The training process ended unexpectedly ({_describe(code)}).")
            how = "the kernel ended it" if code == -signal.SIGKILL else "an allocation failed"
            cfg = self.experiment.config()
            smaller = smaller_batch(cfg) if not self.experiment.stop_requested() else None
            if smaller is None or recoveries == MAX_RECOVERIES:
                tried = f" at training.batch_size {cfg.training.batch_size}"
                return self._fail("out-of-memory", f"Out of memory ({how}){tried}. {OOM_HINT}")
            recoveries += 1
            save_config(smaller, self.experiment.config_path)
            checkpoint = self.experiment.latest_checkpoint()
            where = f"from {checkpoint.name}" if checkpoint else "from the beginning (no checkpoint yet)"
            self._emit(
                Log(
                    level="warning",
                    message=(
                        f"Out of memory ({how}) at training.batch_size {cfg.training.batch_size}: resuming "
                        f"{where} with batch_size {smaller.training.batch_size} and grad_accumulation "
                        f"{smaller.training.grad_accumulation} (same effective batch; recovery {recoveries} "
                        f"of {MAX_RECOVERIES})."
                    ),
                )
            )
            resume = True

    def _emit(self, event: Log | Failed) -> None:
        writer = EventWriter(self.experiment.events_path)
        writer.emit(event)
        writer.close()

    def _fail(self, failure: Any, message: str) -> int:
        self._emit(Failed(failure=failure, message=message))
        return EXIT_FAILED


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"
