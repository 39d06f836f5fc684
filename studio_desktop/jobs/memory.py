"""What earlier runs on this machine measured against their memory estimates: the planner's correction."""

from __future__ import annotations

import statistics
from itertools import islice
from pathlib import Path

from studio_desktop.core.backbone_folders import ready_folder
from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.events import Event, Finished, Started, parse_event, tail_events
from studio_desktop.core.memory_plan import MemoryPlan, ModelShape, plan_memory, read_model_shape
from studio_desktop.core.precision import choose_precision
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.devices import PlannedDevice, planned_device
from studio_desktop.jobs.workdir import Workdir

RECENT_RUNS = 8
HEAD_LINES = 32  # the started event follows at most a few log lines
TAIL_BYTES = 8192
CALIBRATION_RANGE = (0.5, 3.0)


def _parse(line: bytes) -> Event | None:
    try:
        return parse_event(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError):
        return None


def _started_and_last(path: Path) -> tuple[Started | None, Event | None]:
    """The started event near the top of an events file and its last event, reading neither in full."""
    try:
        with path.open("rb") as handle:
            head = [_parse(line) for line in islice(handle, HEAD_LINES)]
    except OSError:
        return None, None
    started = next((event for event in head if isinstance(event, Started)), None)
    tail = tail_events(path, TAIL_BYTES)
    return started, tail[-1] if tail else None


def measured_ratio(experiment_dir: Path, cuda: bool) -> float | None:
    """Measured peak / estimated peak of one finished run on a device of that kind, if it recorded both."""
    started, last = _started_and_last(experiment_dir / "events.jsonl")
    if started is None or not isinstance(last, Finished):
        return None
    if started.device.startswith("cuda") != cuda or started.memory_estimate <= 0 or last.peak_memory <= 0:
        return None
    return last.peak_memory / started.memory_estimate


def memory_calibration(catalog: Catalog, cuda: bool) -> float:
    """The median measured/estimated ratio of the latest runs on this kind of device (1 without any)."""
    ratios = []
    for record in catalog.experiments():
        ratio = measured_ratio(Path(record.path), cuda)
        if ratio is not None:
            ratios.append(ratio)
        if len(ratios) == RECENT_RUNS:
            break
    if not ratios:
        return 1.0
    low, high = CALIBRATION_RANGE
    return min(high, max(low, statistics.median(ratios)))


class MemoryPlanner:
    """Plans configs on the device they would train on here, before any start (the form asks on every edit:
    each backbone's shape and each device kind's correction are read once)."""

    def __init__(self, workdir: Workdir, catalog: Catalog) -> None:
        self.workdir = workdir
        self.catalog = catalog
        self._shapes: dict[str, ModelShape | None] = {}
        self._calibration: dict[bool, float] = {}

    def shape(self, backbone: str) -> ModelShape | None:
        """The backbone's shape, if its folder is here (a hub id not yet downloaded is not)."""
        if backbone not in self._shapes:
            folder = ready_folder(self.catalog.backbone_location(backbone), self.workdir.models)
            self._shapes[backbone] = read_model_shape(folder) if folder is not None else None
        return self._shapes[backbone]

    def plan(self, cfg: ExperimentConfig) -> tuple[MemoryPlan, PlannedDevice] | None:
        """The plan of ``cfg`` and its device, or None when the device's dtype or the shape is unknown."""
        device = planned_device(cfg)
        shape = self.shape(cfg.llm_backbone)
        if device is None or shape is None:
            return None
        cuda = device.facts.cuda
        if cuda not in self._calibration:
            self._calibration[cuda] = memory_calibration(self.catalog, cuda)
        precision = choose_precision(cfg, device.facts)
        memory = plan_memory(
            cfg, shape, precision, available=device.available, cuda=cuda, calibration=self._calibration[cuda]
        )
        return memory, device
