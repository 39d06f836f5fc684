"""One run folder, one worker: an exclusive lock on ``worker.lock`` in the experiment folder.

The launcher takes the lock before it starts a worker and hands it over (the worker inherits the locked file,
which stays locked while any process holds it open); a worker started otherwise takes it itself. A second
start of the same run is refused before anything is written.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from studio_desktop.core.errors import CatalogError

LOCK_FILE = "worker.lock"
LOCK_FD_ENV = "STUDIO_DESKTOP_RUN_LOCK_FD"  # the inherited descriptor of a worker the launcher started


def take_run_lock(experiment_dir: Path, running_pid: int | None = None, wait: float = 0.0) -> int:
    """An open descriptor holding the run's lock; ``CatalogError`` when another worker holds it for longer
    than ``wait`` seconds (a worker that wrote its final event is still exiting); ``running_pid``, when
    known, names that worker."""
    fd = os.open(experiment_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise already_running(experiment_dir.name, running_pid) from None
            time.sleep(0.1)


def already_running(name: str, pid: int | None) -> CatalogError:
    """The refusal to start an experiment a worker runs."""
    who = f" (pid {pid})" if pid else ""
    return CatalogError(
        f"experiment {name!r} is already running{who}; stop it first, or follow it with "
        f"'studio-desktop experiment show {name}'."
    )


def held_run_lock(experiment_dir: Path) -> int:
    """In a worker: the locked descriptor its launcher handed over, else the lock taken now."""
    value = os.environ.pop(LOCK_FD_ENV, "")
    return int(value) if value.isdigit() else take_run_lock(experiment_dir)
