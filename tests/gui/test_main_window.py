"""The main window over a real working directory: tabs, shortcuts, first start, closing during a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.datasets import DEMO_DONE_KEY
from studio_desktop.jobs.workdir import open_workdir

ROOT = Path(__file__).resolve().parents[2]


def make_window(qtbot, wd):
    from studio_desktop.gui.main_window import MainWindow

    window = MainWindow(wd)
    qtbot.addWidget(window)
    window.show()
    return window


def test_tabs_menus_and_shortcuts(qtbot, workdir: Path) -> None:
    wd = open_workdir()
    Catalog(wd.catalog_path).set_setting(DEMO_DONE_KEY, True)
    window = make_window(qtbot, wd)
    window.start_first_run()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Home",
        "Datasets",
        "Experiments",
        "Chat",
    ]
    shortcuts = {
        a.text().replace("&", ""): a.shortcut().toString()
        for m in window.menuBar().findChildren(type(window.menuBar().actions()[0].menu()))
        for a in m.actions()
    }
    assert shortcuts["Import dataset…"] == "Ctrl+I"
    assert shortcuts["New experiment…"] == "Ctrl+N"
    assert not window.progress.isVisible()


def test_a_new_experiment_starts_and_the_window_can_close_while_it_runs(
    qtbot, trained_workdir, make_config
) -> None:
    wd, catalog = trained_workdir
    catalog.set_setting(DEMO_DONE_KEY, True)
    os.environ["PYTHONPATH"] = str(ROOT)
    window = make_window(qtbot, wd)
    window.start_experiment(make_config("from-window", training__epochs=60))
    assert window.tabs.currentWidget() is window.experiments
    experiment = window.experiments.runs.tracker("from-window").experiment
    qtbot.waitUntil(lambda: experiment.status() == "running", timeout=60_000)
    window.ask_keep_running = lambda running: True
    window.close()
    assert experiment.status() == "running"  # the run outlives the window
    reopened = make_window(qtbot, wd)
    reopened.experiments.refresh()
    assert "from-window" in reopened.experiments.runs.names()
    reopened.ask_keep_running = lambda running: False
    reopened.close()
    qtbot.waitUntil(lambda: experiment.status() == "stopped", timeout=60_000)
    assert experiment.latest_checkpoint() is not None


def test_geometry_is_remembered_in_the_workdir(qtbot, workdir: Path) -> None:
    wd = open_workdir()
    Catalog(wd.catalog_path).set_setting(DEMO_DONE_KEY, True)
    window = make_window(qtbot, wd)
    window.resize(900, 600)
    size = (window.width(), window.height())
    assert size != (1200, 780)
    window.close()
    again = make_window(qtbot, wd)
    assert (again.width(), again.height()) == size


@pytest.mark.slow
def test_first_run_prepares_bundled_backbone_and_demo_dataset(qtbot, workdir: Path) -> None:
    wd = open_workdir()
    window = make_window(qtbot, wd)
    with qtbot.waitSignal(window.first_run.finished, timeout=300_000) as blocker:
        window.start_first_run()
        assert window.progress.isVisible()
    assert blocker.args[0] == 0, bytes(window.first_run.readAllStandardError().data()).decode()
    assert [r.name for r in window.datasets.records] == ["studio-desktop-demo"]
    assert (wd.models / "SmolLM2-135M-Instruct" / "config.json").exists()
    assert Catalog(wd.catalog_path).get_setting(DEMO_DONE_KEY) is True
