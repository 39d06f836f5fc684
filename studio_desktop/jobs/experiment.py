"""An experiment folder: frozen config, the worker's event file, pid record, stop request, checkpoints.

Status is derived, never stored: the last event plus whether the recorded worker process still lives.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.config_io import load_config, save_config
from studio_desktop.core.errors import CatalogError
from studio_desktop.core.events import FINAL_KINDS, Event, Finished, read_events
from studio_desktop.jobs.catalog import Catalog, ExperimentRecord, now_iso
from studio_desktop.jobs.workdir import Workdir, check_name, delete_folder

Status = Literal["created", "starting", "running", "stopping", "finished", "stopped", "failed", "crashed"]
ACTIVE_STATUSES = ("starting", "running", "stopping")
ADJECTIVES = (
    "amber",
    "brisk",
    "calm",
    "daring",
    "eager",
    "gentle",
    "keen",
    "lucid",
    "nimble",
    "quiet",
    "rapid",
)
NOUNS = ("falcon", "otter", "heron", "lynx", "maple", "comet", "harbor", "meadow", "pine", "river", "summit")


@dataclass(frozen=True)
class Experiment:
    """Paths inside one experiment folder and the state derived from them."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def pid_path(self) -> Path:
        return self.path / "worker.json"

    @property
    def stop_path(self) -> Path:
        return self.path / "stop.request"

    @property
    def log_path(self) -> Path:
        return self.path / "worker.log"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model_dir(self) -> Path:
        """The trained weights (adapter or full model) with the tokenizer, written at the end of training."""
        return self.path / "model"

    @property
    def predictions_path(self) -> Path:
        return self.path / "validation_predictions.csv"

    def config(self) -> ExperimentConfig:
        return load_config(self.config_path).config

    def events(self) -> list[Event]:
        return read_events(self.events_path)

    def record_worker(self, pid: int) -> None:
        """Remember the worker process (pid and start time, so a reused pid is not mistaken for it)."""
        info = {"pid": pid, "create_time": _process_create_time(pid), "started": now_iso()}
        tmp = self.pid_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, self.pid_path)

    def worker_record(self) -> dict | None:
        """The recorded worker (pid and process start time), if one was started."""
        try:
            return json.loads(self.pid_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def worker_alive(self) -> bool:
        """Whether the recorded worker process is still running."""
        info = self.worker_record()
        if info is None:
            return False
        created = _process_create_time(int(info["pid"]))
        return created is not None and abs(created - float(info.get("create_time") or 0)) < 1.0

    def request_stop(self) -> None:
        """Ask the worker to save a checkpoint and stop (it polls for this file)."""
        self.stop_path.write_text(now_iso(), encoding="utf-8")

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def status(self, events: list[Event] | None = None) -> Status:
        """Derived from the events and the worker: the final event of the latest worker, else its liveness.

        A final event written before the recorded worker started belongs to an earlier run (a resumed
        experiment), so it does not end the current one.
        """
        events = self.events() if events is None else events
        info = self.worker_record()
        started = float(info.get("create_time") or 0) if info else 0.0
        final = next((e for e in reversed(events) if e.KIND in FINAL_KINDS), None)
        if final is not None and (info is None or final.time >= started):
            return final.status if isinstance(final, Finished) else "failed"
        if info is None:
            return "created"
        if not self.worker_alive():
            return "crashed"
        if self.stop_requested():
            return "stopping"
        return "running" if any(e.time >= started for e in events) else "starting"

    def latest_checkpoint(self) -> Path | None:
        """The complete checkpoint with the highest step, if any.

        The Trainer writes ``trainer_state.json`` last, so a folder without a readable one was cut short
        (killed, or the disk filled up) and is passed over.
        """
        steps = [(step, folder) for step, folder in self._checkpoint_folders() if _complete(folder)]
        return max(steps)[1] if steps else None

    def incomplete_checkpoints(self) -> list[Path]:
        """Checkpoint folders whose writing was cut short (never loadable; safe to delete between runs)."""
        return [folder for _, folder in sorted(self._checkpoint_folders()) if not _complete(folder)]

    def _checkpoint_folders(self) -> list[tuple[int, Path]]:
        folders = []
        for folder in self.checkpoints_dir.glob("checkpoint-*"):
            suffix = folder.name.rsplit("-", 1)[-1]
            if suffix.isdigit() and folder.is_dir():
                folders.append((int(suffix), folder))
        return folders


def _complete(checkpoint: Path) -> bool:
    """Whether a checkpoint folder's trainer state (its last file) was written in full."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict)


def _process_create_time(pid: int) -> float | None:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def generate_name(catalog: Catalog) -> str:
    """A readable unused name like ``calm-otter``."""
    rng = random.Random()
    while True:
        name = f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
        if not catalog.has_experiment(name):
            return name
        name = f"{name}-{rng.randint(2, 999)}"
        if not catalog.has_experiment(name):
            return name


def create_experiment(workdir: Workdir, catalog: Catalog, cfg: ExperimentConfig) -> Experiment:
    """Make the folder, freeze the config in it and register the experiment (refused, before anything is
    written, for a problem type that no recipe trains)."""
    from studio_desktop.jobs.repair import adopt_orphans

    adopt_orphans(workdir, catalog)  # an experiment created by a killed process before its catalogue row
    name = check_name(cfg.experiment_name, "experiment") if cfg.experiment_name else generate_name(catalog)
    if catalog.has_experiment(name) or workdir.experiment_dir(name).exists():
        raise CatalogError(f"an experiment named {name!r} already exists; set experiment_name to a new name.")
    cfg = cfg.replace({"experiment_name": name})
    experiment = Experiment(workdir.experiment_dir(name))
    experiment.path.mkdir(parents=True)
    try:
        save_config(cfg, experiment.config_path)
        dataset = cfg.dataset.train_dataframe if catalog.has_dataset(cfg.dataset.train_dataframe) else None
        catalog.add_experiment(
            ExperimentRecord(
                name, str(experiment.path), dataset, cfg.problem_type, cfg.llm_backbone, now_iso()
            )
        )
    except Exception:
        shutil.rmtree(experiment.path, ignore_errors=True)
        raise
    return experiment


def open_experiment(catalog: Catalog, name: str) -> Experiment:
    """The experiment registered under ``name``."""
    return Experiment(Path(catalog.experiment(name).path))


def delete_experiment(catalog: Catalog, name: str) -> None:
    """Remove a finished, stopped, failed or crashed experiment and its folder."""
    experiment = open_experiment(catalog, name)
    if experiment.status() in ACTIVE_STATUSES:
        raise CatalogError(f"experiment {name!r} is still running; stop it first.")
    if experiment.worker_alive():
        raise CatalogError(f"experiment {name!r} is still shutting down; try again in a moment.")
    folder = catalog.inside(experiment.path)
    delete_folder(folder, lambda: catalog.remove_experiment(name))


def rename_experiment(workdir: Workdir, catalog: Catalog, old: str, new: str) -> Experiment:
    """Rename an experiment that is not running (folder and catalogue)."""
    experiment = open_experiment(catalog, old)
    if experiment.status() in ACTIVE_STATUSES:
        raise CatalogError(f"experiment {old!r} is running; rename it when it has ended.")
    target = workdir.experiment_dir(new)
    if target.exists():
        raise CatalogError(f"an experiment named {new!r} already exists.")
    folder = catalog.inside(experiment.path)
    folder.rename(target)  # the folder first: if this fails, nothing changed
    try:
        catalog.rename_experiment(old, new, str(target))
    except BaseException:
        target.rename(folder)
        raise
    renamed = Experiment(target)
    cfg = renamed.config().replace({"experiment_name": new})
    save_config(cfg, renamed.config_path)
    return renamed
