"""One training attempt: runs in its own process, writes events, exits 0 finished, 1 failed, 2 stopped, or
3 out of memory when a supervisor will retry it (``worker.supervisor``)."""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from studio_desktop.core.errors import (
    BackboneError,
    CatalogError,
    ConfigError,
    DataError,
    DivergenceError,
    StudioError,
)
from studio_desktop.core.events import Event, EventWriter, Failed, Log
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment
from studio_desktop.jobs.run_lock import held_run_lock
from studio_desktop.jobs.workdir import open_workdir
from studio_desktop.worker.disk_full import disk_full_failure, remove_incomplete_checkpoints
from studio_desktop.worker.exits import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_OUT_OF_MEMORY,
    EXIT_STOPPED,
    OOM_HINT,
)

__all__ = ["EXIT_FAILED", "EXIT_FINISHED", "EXIT_OUT_OF_MEMORY", "EXIT_STOPPED", "run_training"]
# What torch says when an allocation fails: CUDA ("CUDA out of memory") and the CPU allocator.
OUT_OF_MEMORY_TEXTS = ("out of memory", "can't allocate memory")


class StopSignal:
    """True once SIGTERM arrived or a stop request file appeared."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.received = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, _signum: int, _frame: Any) -> None:
        self.received = True

    def __call__(self) -> bool:
        return self.received or self.experiment.stop_requested()


def classify_failure(error: BaseException) -> Failed:
    """A failed event a user can act on."""
    text = str(error)
    if is_out_of_memory(error):
        return Failed(failure="out-of-memory", message=f"Out of memory. {OOM_HINT}", details=text)
    for cls, failure in ((DataError, "data"), (ConfigError, "config"), (BackboneError, "model")):
        if isinstance(error, cls):
            return Failed(failure=failure, message=text)
    if isinstance(error, StudioError):
        return Failed(failure="config", message=text)
    if isinstance(error, KeyboardInterrupt):
        return Failed(failure="interrupted", message="Training was interrupted.")
    return Failed(
        failure="internal",
        message=f"Unexpected {type(error).__name__}: {text}",
        details=traceback.format_exc(),
    )


def diverged_failure(error: BaseException, experiment: Experiment) -> Failed | None:
    """The failed event of a run whose loss or gradient became non-finite, naming the checkpoint to go on
    from (nothing of the diverged step was saved)."""
    if not isinstance(error, DivergenceError):
        return None
    checkpoint = experiment.latest_checkpoint()
    kept = (
        f"the last good checkpoint, {checkpoint.name}, is kept: resume from it"
        if checkpoint is not None
        else "no checkpoint was written before it"
    )
    return Failed(
        failure="diverged",
        message=f"{error}; training stopped and {kept} after lowering training.learning_rate (or setting "
        "training.gradient_clip, e.g. 1.0, or training in float32 or bfloat16 rather than float16).",
    )


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a failed allocation (CUDA or CPU)."""
    text = str(error).lower()
    return type(error).__name__ == "OutOfMemoryError" or any(part in text for part in OUT_OF_MEMORY_TEXTS)


def run_training(
    workdir_root: Path, experiment_dir: Path, resume: bool = False, supervised: bool = False
) -> int:
    """Train the experiment in ``experiment_dir``; every outcome ends with a final event, except running out
    of memory under a supervisor, which logs it and leaves the outcome to the supervisor's retry."""
    worker_environment()
    experiment = Experiment(experiment_dir)
    try:  # an attempt runs under its supervisor's lock
        lock = None if supervised else held_run_lock(experiment_dir)
    except CatalogError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BUSY
    try:
        return _run_locked(workdir_root, experiment, resume, supervised)
    finally:
        if lock is not None:
            os.close(lock)


def _run_locked(workdir_root: Path, experiment: Experiment, resume: bool, supervised: bool) -> int:
    writer = EventWriter(experiment.events_path)
    stop = StopSignal(experiment)
    try:
        status = _train(workdir_root, experiment, writer, stop, resume)
    except BaseException as error:  # every failure becomes an event
        if supervised and is_out_of_memory(error):
            _write_final(writer, Log(level="error", message=f"Out of memory: {error}"))
            return EXIT_OUT_OF_MEMORY
        failure = disk_full_failure(error, experiment) or diverged_failure(error, experiment)
        _write_final(writer, failure or classify_failure(error))
        return EXIT_FAILED
    writer.close()
    return EXIT_STOPPED if status == "stopped" else EXIT_FINISHED


def _write_final(writer: EventWriter, event: Event) -> None:
    """Write the final event; when even that fails (a full disk), its message goes to the worker log."""
    try:
        writer.emit(event)
        writer.close()
    except OSError as error:
        print(f"{event.to_json()}\n(not written to the events file: {error})", file=sys.stderr)


def _train(
    workdir_root: Path, experiment: Experiment, sink: EventWriter, stop: StopSignal, resume: bool
) -> str:
    from studio_desktop.worker.session import run_session

    logging.getLogger("transformers").setLevel(logging.ERROR)
    cfg = experiment.config()
    workdir = open_workdir(workdir_root)
    catalog = Catalog(workdir.catalog_path)
    seed = cfg.environment.seed if cfg.environment.seed >= 0 else random.randint(0, 2**31 - 1)
    for folder in remove_incomplete_checkpoints(experiment):
        sink.emit(
            Log(level="warning", message=f"Deleted {folder.name}: the previous run ended while writing it.")
        )
    checkpoint = experiment.latest_checkpoint() if resume else None
    if resume and checkpoint is None:
        sink.emit(Log(level="warning", message="No checkpoint found: training starts from the beginning."))
    return run_session(
        cfg, experiment, workdir, catalog, sink=sink, should_stop=stop, seed=seed, checkpoint=checkpoint
    )


def worker_environment() -> None:
    """Quiet, offline-friendly defaults for the worker process; one compute thread per usable core."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import torch
    from datasets.utils.logging import disable_progress_bar
    from transformers.utils import logging as transformers_logging

    from studio_desktop.core.hardware import usable_cores

    torch.set_num_threads(usable_cores())

    transformers_logging.disable_progress_bar()
    disable_progress_bar()
