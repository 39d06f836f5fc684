"""Responsiveness: the window paints before the heavy libraries load (the other tabs and the monitor
follow), the curves convert only new points, and following a run never re-reads its whole event file."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from studio_desktop.core.config import default_config
from studio_desktop.core.events import EventWriter, Finished, Metric, Progress, Started
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.datasets import DEMO_DONE_KEY
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.run_state import RunState, RunTracker
from studio_desktop.jobs.workdir import open_workdir

ROOT = Path(__file__).resolve().parents[2]
FIRST_PAINT = """
import sys
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication
from studio_desktop.gui.main_window import MainWindow
from studio_desktop.jobs.workdir import open_workdir

HEAVY = ("pandas", "pyqtgraph", "numpy", "pyarrow", "yaml")

class FirstPaint(QObject):  # sees the window's first paint event before the window does
    heavy = None

    def eventFilter(self, watched, event):
        if self.heavy is None and event.type() == QEvent.Type.Paint and watched is window:
            self.heavy = sorted(m for m in HEAVY if m in sys.modules)
        return False

app = QApplication([])
first_paint = FirstPaint()
app.installEventFilter(first_paint)
window = MainWindow(open_workdir())
window.show()
app.processEvents()
print(window.painted, first_paint.heavy)
"""


def test_the_first_frame_needs_no_heavy_library(workdir: Path) -> None:
    Catalog(open_workdir().catalog_path).set_setting(DEMO_DONE_KEY, True)
    result = subprocess.run(
        [sys.executable, "-c", FIRST_PAINT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "True []"


def test_tabs_are_built_after_the_first_paint_or_when_needed(qtbot, workdir: Path) -> None:
    from studio_desktop.gui.main_window import MainWindow

    wd = open_workdir()
    Catalog(wd.catalog_path).set_setting(DEMO_DONE_KEY, True)
    window = MainWindow(wd)
    qtbot.addWidget(window)
    assert window.built == {} and not window.home.monitor.plots_built
    assert [window.tabs.tabText(i) for i in range(4)] == ["Home", "Datasets", "Experiments", "Chat"]
    datasets = window.datasets  # asked for before the window was shown: built at once, in place
    assert window.tabs.widget(1) is datasets and window.tabs.currentIndex() == 0
    window.tabs.setCurrentIndex(3)  # a visit builds the tab it shows
    assert window.tabs.currentWidget() is window.built["chat"]
    window.tabs.setCurrentIndex(0)
    window.show()
    qtbot.waitUntil(lambda: not window.placeholders and window.home.monitor.plots_built, timeout=30_000)
    assert window.tabs.widget(2) is window.experiments
    assert [window.tabs.tabText(i) for i in range(4)] == ["Home", "Datasets", "Experiments", "Chat"]
    assert window.tabs.currentIndex() == 0


def metric(step: int) -> Metric:
    return Metric(step=step, epoch=step / 10, tokens=step * 3, values={"train/loss": 100.0 / step, "lr": 0.1})


def test_curves_convert_only_new_points_and_skip_unchanged_ones(qtbot) -> None:
    from studio_desktop.gui.widgets.curves import CurvePanel

    state = RunState()
    for step in range(1, 3001):
        state.apply(metric(step))
    panel = CurvePanel()
    qtbot.addWidget(panel)
    panel.show_state(state)
    values = panel.arrays[(id(state.series["train/loss"]), "values")][1]
    for step in range(3001, 3101):
        state.apply(metric(step))
    panel.show_state(state)
    x, y = panel.curves["train/loss"].getData()
    assert len(x) == 3100 and x[-1] == 3100 and y[-1] == 100.0 / 3100
    assert list(y) == [100.0 / step for step in range(1, 3101)]
    buffer = values.buffer  # room for twice as many points now
    state.apply(metric(3101))
    panel.show_state(state)
    assert values.buffer is buffer and values.size == 3101
    shown = panel.curves["lr"].getData()
    panel.show_state(state)  # nothing new: the curve keeps its arrays
    assert panel.curves["lr"].getData()[0] is shown[0]
    other = RunState()
    other.apply(metric(1))
    panel.show_state(other)  # another run starts from its own points
    assert list(panel.curves["train/loss"].getData()[0]) == [1.0]


def test_the_status_from_the_events_read_so_far_matches_the_full_read(workdir: Path) -> None:
    from studio_desktop.gui.models.runs import status_events

    wd = open_workdir()
    config = default_config().replace({"experiment_name": "s"})
    experiment = create_experiment(wd, Catalog(wd.catalog_path), config)
    tracker, kept, seen = RunTracker(experiment), [], []
    writer = EventWriter(experiment.events_path)
    started = Started(1, "b", "cpu", 1, 1, 8, 2, 4, 0)
    progress = Progress(
        step=1, total_steps=4, epoch=0.5, samples=2, tokens=9, tokens_per_second=1, eta_seconds=3
    )
    second_worker = None
    stopped, finished = Finished(status="stopped", step=1), Finished(status="finished", step=4)
    batches = [[], [started], [progress, metric(1)], [stopped], [started, progress], [finished]]
    try:
        for index, batch in enumerate(batches):
            if index == 1:
                experiment.record_worker(os.getpid())
            if index == 4:  # a resumed run: the earlier final event belongs to the previous worker
                second_worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                experiment.record_worker(second_worker.pid)
            # Times just after the recorded worker's start (process start times are coarse).
            start = float((experiment.worker_record() or {}).get("create_time") or 0)
            for offset, event in enumerate(batch, start=1):
                writer.emit(dataclasses.replace(event, time=start + offset / 10))
            kept = status_events(kept, tracker.poll())
            seen.append(experiment.status(kept))
            assert seen[-1] == experiment.status()
            assert len(kept) <= 2
    finally:
        writer.close()
        if second_worker is not None:
            second_worker.kill()
            second_worker.wait()
    assert seen == ["created", "running", "running", "stopped", "running", "finished"]


def test_home_takes_the_statuses_the_experiments_tab_follows(qtbot, workdir: Path, monkeypatch) -> None:
    from studio_desktop.gui.main_window import MainWindow
    from studio_desktop.jobs.experiment import Experiment

    wd = open_workdir()
    catalog = Catalog(wd.catalog_path)
    catalog.set_setting(DEMO_DONE_KEY, True)
    config = default_config().replace({"experiment_name": "done"})
    writer = EventWriter(create_experiment(wd, catalog, config).events_path)
    writer.emit(Finished(status="finished", step=3))
    writer.close()
    window = MainWindow(wd)
    qtbot.addWidget(window)
    assert "done" in window.experiments.runs.names()  # built now, following every run
    full_reads = []
    status = Experiment.status

    def counted(experiment, events=None):
        if events is None:
            full_reads.append(experiment.path.name)
        return status(experiment, events)

    monkeypatch.setattr(Experiment, "status", counted)
    window.tabs.setCurrentIndex(1)  # a visit to another tab refreshes Home too
    assert window.home.counts["Finished"] == 1
    assert full_reads == []
