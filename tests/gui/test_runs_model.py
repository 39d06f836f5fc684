"""The runs model: one owner of live run state, reading long backlogs in slices and changing rows alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from studio_desktop.core.config import default_config
from studio_desktop.core.events import EventWriter, Finished, Metric, Progress
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.workdir import open_workdir

pytest.importorskip("pytestqt")

from studio_desktop.gui.models.runs import SLICE_BYTES, RunsModel


def experiment_with(catalog, wd, name: str, steps: int):
    experiment = create_experiment(wd, catalog, default_config().replace({"experiment_name": name}))
    writer = EventWriter(experiment.events_path)
    for step in range(1, steps + 1):
        writer.emit(Metric(step=step, epoch=step / steps, tokens=step, values={"train/loss": 1 / step}))
    writer.emit(
        Progress(
            step=steps,
            total_steps=steps,
            epoch=1.0,
            samples=steps,
            tokens=steps,
            tokens_per_second=1,
            eta_seconds=0,
        )
    )
    writer.emit(Finished(status="finished", step=steps))
    writer.close()
    return experiment


def test_a_long_backlog_is_read_in_slices_with_the_event_loop_running_between(qtbot, workdir: Path) -> None:
    wd = open_workdir()
    catalog = Catalog(wd.catalog_path)
    experiment = experiment_with(catalog, wd, "long", steps=20_000)
    assert experiment.events_path.stat().st_size > 5 * SLICE_BYTES
    turns = []
    model = RunsModel(catalog, start=False)  # reads the first slice at once
    series = model.tracker("long").state.series["train/loss"]
    first = len(series.steps)
    assert 0 < first < 20_000 and model.status("long") == "created"
    ticker = QTimer(interval=0, timeout=lambda: turns.append(len(series.steps)))
    ticker.start()
    with qtbot.waitSignal(model.refreshed, timeout=60_000):
        pass
    ticker.stop()
    assert list(series.steps) == list(range(1, 20_001))
    assert model.status("long") == "finished"
    assert model.index(0, 2).data() == "20000/20000 (100%)"
    # The event loop ran between the slices: other work saw the series grow a slice at a time.
    assert len({count for count in turns if first <= count < 20_000}) > 3


def test_only_the_row_of_the_run_that_changed_is_reported(qtbot, workdir: Path) -> None:
    wd = open_workdir()
    catalog = Catalog(wd.catalog_path)
    experiment_with(catalog, wd, "quiet", steps=3)
    live = create_experiment(wd, catalog, default_config().replace({"experiment_name": "live"}))
    model = RunsModel(catalog, start=False)
    changed = []
    model.dataChanged.connect(lambda top, _bottom: changed.append(model.index(top.row(), 0).data()))
    model.refresh()
    assert changed == []  # nothing new: no row is redrawn
    writer = EventWriter(live.events_path)
    writer.emit(Metric(step=1, epoch=0.1, tokens=1, values={"train/loss": 2.5}))
    writer.close()
    model.refresh()
    assert changed == ["live"]
    assert model.index(model.row_of("live"), 4).data() == "2.5000"
