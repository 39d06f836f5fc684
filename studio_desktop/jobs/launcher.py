"""Starting child processes of the app (workers), from source or from a frozen bundle."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_WAIT = 30.0  # seconds a worker that wrote its final event may take to exit before a new start


def app_command(args: Sequence[str], workdir: Path | None = None) -> list[str]:
    """``[program, *arguments]`` that runs ``studio-desktop [--workdir DIR] ARGS`` in a new process."""
    frozen = getattr(sys, "frozen", False)
    command = [sys.executable] if frozen else [sys.executable, "-m", "studio_desktop"]
    if workdir is not None:
        command += ["--workdir", str(workdir)]
    return command + list(args)


def worker_environment() -> dict[str, str]:
    """Variables a worker gets beside the caller's: the Hugging Face token kept in the keyring."""
    from studio_desktop.jobs.secrets import worker_environment as secret_environment

    return secret_environment()


def worker_command(workdir: Path, experiment_dir: Path, resume: bool = False) -> list[str]:
    """The command line of a training worker for an experiment folder."""
    args = ["worker", "train", str(experiment_dir)]
    return app_command([*args, "--resume"] if resume else args, workdir)


def start_training_worker(workdir: Path, experiment_dir: Path, resume: bool = False) -> subprocess.Popen:
    """Start a training worker in its own session (it outlives the caller); refused with ``CatalogError``
    while another worker runs the experiment.

    Its output goes to ``worker.log`` in the experiment folder; the pid is recorded there too.
    """
    from studio_desktop.core.events import tail_events
    from studio_desktop.jobs.experiment import ACTIVE_STATUSES, Experiment
    from studio_desktop.jobs.run_lock import LOCK_FD_ENV, take_run_lock

    experiment = Experiment(experiment_dir)
    running = experiment.worker_record() if experiment.worker_alive() else None
    # A worker past its final event is only exiting (the file's tail holds that event: no full read here).
    ending = experiment.status(tail_events(experiment.events_path)) not in ACTIVE_STATUSES
    lock = take_run_lock(experiment_dir, running["pid"] if running else None, wait=EXIT_WAIT if ending else 0)
    try:
        with experiment.log_path.open("ab") as log:
            process = subprocess.Popen(
                worker_command(workdir, experiment_dir, resume),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **worker_environment(), LOCK_FD_ENV: str(lock)},
                pass_fds=(lock,),
            )
        experiment.record_worker(process.pid)
    finally:
        os.close(lock)  # the worker holds the lock now
    return process
