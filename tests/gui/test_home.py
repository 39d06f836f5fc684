"""The Home tab and its system monitor over a real working directory and this machine's real load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio_desktop.core.config import default_config
from studio_desktop.core.events import EventWriter, Failed, Finished, Progress
from studio_desktop.core.sysinfo import NO_GPU_NOTE, NvmlReader, SystemSampler
from studio_desktop.jobs.catalog import Catalog, DatasetRecord, now_iso
from studio_desktop.jobs.experiment import Experiment, create_experiment
from studio_desktop.jobs.workdir import open_workdir
from tests.core.test_sysinfo import REAL_GPUS, FakeNvml

pytest.importorskip("pytestqt")
from PySide6.QtCore import Qt

from studio_desktop.gui.tabs.home import HomeTab
from studio_desktop.gui.widgets.system_monitor import SystemMonitor

without_gpu = pytest.mark.skipif(bool(REAL_GPUS), reason="this machine has an NVIDIA GPU")


def curve_points(monitor: SystemMonitor, strip: int, curve: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, y = monitor.host_strips[strip].curves[curve].getData()
    return (np.array([]), np.array([])) if x is None else (x, y)


def test_monitor_curves_fill_from_the_timer(qtbot, tmp_path: Path) -> None:
    monitor = SystemMonitor(tmp_path, interval_ms=30)
    qtbot.addWidget(monitor)
    monitor.show()
    monitor.start()
    qtbot.waitUntil(lambda: len(curve_points(monitor, 0)[0]) >= 3, timeout=5000)
    monitor.stop()
    assert not monitor.running
    for strip in range(3):
        x, y = curve_points(monitor, strip)
        assert len(x) == len(y) >= 3
        assert x[-1] == 0 and np.all(np.diff(x) > 0)
    cpu = curve_points(monitor, 0)[1]
    assert np.all((cpu >= 0) & (cpu <= 100))
    ram = curve_points(monitor, 1)[1]
    assert 0 < ram[-1] <= monitor.host_strips[1].top
    assert "CPU" in monitor.host_strips[0].title and "%" in monitor.host_strips[0].title
    assert "GiB" in monitor.host_strips[1].title


def test_monitor_keeps_only_the_window(qtbot, tmp_path: Path) -> None:
    monitor = SystemMonitor(tmp_path, window=5)
    qtbot.addWidget(monitor)
    for _ in range(8):
        monitor.sample_now()
    x, _ = curve_points(monitor, 2)
    assert len(x) == 5
    assert not monitor.running


@without_gpu
def test_monitor_shows_the_no_gpu_note_here(qtbot, tmp_path: Path) -> None:
    monitor = SystemMonitor(tmp_path)
    qtbot.addWidget(monitor)
    monitor.show()
    snapshot = monitor.sample_now()
    assert snapshot.gpu_note == NO_GPU_NOTE
    assert monitor.note.isVisible() and monitor.note.text() == NO_GPU_NOTE
    assert monitor.gpu_strips == [] and not monitor.gpu_details.isVisible()


@without_gpu
def test_monitor_draws_one_curve_per_gpu(qtbot, tmp_path: Path) -> None:
    sampler = SystemSampler(tmp_path, gpu_reader=NvmlReader(FakeNvml()))
    monitor = SystemMonitor(tmp_path, sampler=sampler)
    qtbot.addWidget(monitor)
    monitor.show()
    monitor.sample_now()
    monitor.sample_now()
    assert not monitor.note.isVisible()
    assert [len(strip.curves) for strip in monitor.gpu_strips] == [2, 2, 2]
    util, memory, temperature = monitor.gpu_strips
    assert list(util.curves[0].getData()[1]) == [87.0, 87.0]
    assert np.isnan(util.curves[1].getData()[1]).all()  # device 1 cannot report utilization
    assert list(memory.curves[1].getData()[1]) == [2.0, 2.0]
    assert list(temperature.curves[0].getData()[1]) == [61.0, 61.0]
    assert "mean 62, max 62 °C" in temperature.title
    details = monitor.gpu_details.text()
    assert monitor.gpu_details.isVisible()
    assert "GPU 0 · Fake A100 · 87 %" in details and "GPU 1 · Fake L4 · n/a" in details


def add_experiment(wd, catalog: Catalog, name: str, *events) -> Experiment:
    experiment = create_experiment(wd, catalog, default_config().replace({"experiment_name": name}))
    writer = EventWriter(experiment.events_path)
    for event in events:
        writer.emit(event)
    writer.close()
    return experiment


@pytest.fixture
def home(qtbot, workdir: Path) -> HomeTab:
    """A Home tab over a workdir with one dataset and experiments in six different states."""
    wd = open_workdir()
    catalog = Catalog(wd.catalog_path)
    catalog.add_dataset(
        DatasetRecord(
            "support-chats",
            str(wd.dataset_dir("support-chats")),
            "sharegpt",
            "/s.json",
            120,
            100,
            90,
            10,
            now_iso(),
        )
    )
    add_experiment(wd, catalog, "done-one", Finished(status="finished", step=10))
    add_experiment(wd, catalog, "halted", Finished(status="stopped", step=3))
    add_experiment(wd, catalog, "broken", Failed(failure="data", message="no rows"))
    add_experiment(wd, catalog, "fresh")
    progress = Progress(
        step=1, total_steps=9, epoch=0.1, samples=4, tokens=90, tokens_per_second=9.0, eta_seconds=None
    )
    add_experiment(wd, catalog, "busy", progress).record_worker(os.getpid())
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    add_experiment(wd, catalog, "lost", progress).record_worker(int(ended.stdout))
    tab = HomeTab(wd, catalog)
    qtbot.addWidget(tab)
    tab.resize(1100, 720)
    tab.show()
    return tab


def test_home_counts_experiments_by_status_and_lists_them(home: HomeTab) -> None:
    expected = {"Running": 1, "Finished": 1, "Stopped": 1, "Failed": 1, "Crashed": 1, "Not started": 1}
    assert home.counts == expected
    assert {k: int(w.number.text()) for k, w in home.count_widgets.items()} == expected
    rows = {
        home.experiments.topLevelItem(i).text(0): home.experiments.topLevelItem(i).text(1)
        for i in range(home.experiments.topLevelItemCount())
    }
    assert rows == {
        "done-one": "finished",
        "halted": "stopped",
        "broken": "failed",
        "fresh": "not started",
        "busy": "running",
        "lost": "crashed",
    }
    assert home.datasets.topLevelItemCount() == 1
    dataset = home.datasets.topLevelItem(0)
    assert (dataset.text(0), dataset.text(1)) == ("support-chats", "100")
    assert not home.experiments_empty.isVisible() and not home.datasets_empty.isVisible()


def test_home_refresh_picks_up_new_rows(home: HomeTab) -> None:
    home.catalog.add_dataset(
        DatasetRecord(
            "later", str(home.workdir.dataset_dir("later")), "alpaca", "/l.json", 5, 5, 4, 1, now_iso()
        )
    )
    add_experiment(home.workdir, home.catalog, "newest", Finished(status="finished", step=1))
    home.refresh()
    assert home.counts["Finished"] == 2
    assert home.count_widgets["Finished"].number.text() == "2"
    assert {home.datasets.topLevelItem(i).text(0) for i in range(2)} == {"support-chats", "later"}


def double_click(qtbot, tree, row: int) -> None:
    """Press, release, then the double-click event, as a real double click arrives."""
    pos = tree.visualItemRect(tree.topLevelItem(row)).center()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_double_click_opens_experiment_and_dataset(qtbot, home: HomeTab) -> None:
    experiments: list[str] = []
    datasets: list[str] = []
    home.open_experiment.connect(experiments.append)
    home.open_dataset.connect(datasets.append)
    name = home.experiments.topLevelItem(2).text(0)
    qtbot.mouseClick(
        home.experiments.viewport(),
        Qt.MouseButton.LeftButton,
        pos=home.experiments.visualItemRect(home.experiments.topLevelItem(0)).center(),
    )
    assert experiments == []  # a single click only selects
    double_click(qtbot, home.experiments, 2)
    qtbot.waitUntil(lambda: experiments == [name], timeout=2000)
    double_click(qtbot, home.datasets, 0)
    qtbot.waitUntil(lambda: datasets == ["support-chats"], timeout=2000)
    assert experiments == [name]


def test_demo_button_and_first_run_message(qtbot, home: HomeTab) -> None:
    assert not home.first_run.isVisible()
    home.set_first_run_message("Preparing the bundled model (40 %)", busy=True)
    assert home.first_run.isVisible() and home.first_run_progress.isVisible()
    assert home.first_run_label.text() == "Preparing the bundled model (40 %)"
    assert not home.demo_button.isEnabled()
    home.set_first_run_message("", busy=False)
    assert not home.first_run.isVisible() and home.demo_button.isEnabled()
    with qtbot.waitSignal(home.start_demo, timeout=2000):
        qtbot.mouseClick(home.demo_button, Qt.MouseButton.LeftButton)


def test_home_of_an_empty_workdir_says_what_to_do(qtbot, workdir: Path) -> None:
    wd = open_workdir()
    tab = HomeTab(wd, Catalog(wd.catalog_path))
    qtbot.addWidget(tab)
    tab.show()
    assert set(tab.counts.values()) == {0}
    assert tab.experiments_empty.isVisible() and not tab.experiments.isVisible()
    assert tab.datasets_empty.isVisible() and not tab.datasets.isVisible()
    assert str(wd.root) in tab.workdir_label.text()
    assert tab.monitor.running
    qtbot.waitUntil(lambda: tab.monitor.count >= 1, timeout=3000)
