"""What earlier runs on this machine measured against their memory estimates: the planner's correction."""

from __future__ import annotations

import statistics
from itertools import islice
from pathlib import Path

from studio_desktop.core.backbones import ready_folder
from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.events import Event, Finished, Started, parse_event
from studio_desktop.core.memory_plan import MemoryPlan, plan_memory, read_model_shape
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.devices import planned_precision
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
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - TAIL_BYTES))
            tail = handle.read().splitlines()
    except OSError:
        return None, None
    started = next((event for event in head if isinstance(event, Started)), None)
    return started, _parse(tail[-1]) if tail else None


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


def planned_memory(cfg: ExperimentConfig, workdir: Workdir, catalog: Catalog) -> MemoryPlan | None:
    """The memory plan of ``cfg`` on this machine's CPU (None with a GPU, or when the backbone is not yet
    available here to read its shape)."""
    import psutil

    precision = planned_precision(cfg)
    folder = ready_folder(catalog.backbone_location(cfg.llm_backbone), workdir.models)
    shape = read_model_shape(folder) if folder is not None else None
    if precision is None or shape is None:
        return None
    available = int(psutil.virtual_memory().available)
    calibration = memory_calibration(catalog, cuda=False)
    return plan_memory(cfg, shape, precision, available=available, cuda=False, calibration=calibration)
