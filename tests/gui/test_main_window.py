"""The main window over a real working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_desktop.jobs.catalog import Catalog, DatasetRecord, now_iso
from studio_desktop.jobs.datasets import DEMO_DONE_KEY
from studio_desktop.jobs.workdir import open_workdir

pytest.importorskip("pytestqt")


def test_window_shows_tabs_and_catalogue(qtbot, workdir: Path) -> None:
    from studio_desktop.gui.main_window import MainWindow

    wd = open_workdir()
    catalog = Catalog(wd.catalog_path)
    catalog.add_dataset(DatasetRecord("my-data", "/d", "alpaca", "/s.json", 12, 10, 9, 1, now_iso()))
    catalog.set_setting(DEMO_DONE_KEY, True)
    window = MainWindow(wd)
    qtbot.addWidget(window)
    window.show()
    window.start_first_run()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Home",
        "Datasets",
        "Experiments",
        "Chat",
    ]
    assert window.datasets.rowCount() == 1
    assert window.datasets.item(0, 0).text() == "my-data"
    assert window.datasets.item(0, 2).text() == "12"
    assert "Datasets: <b>1</b>" in window.home.text()
    assert not window.progress.isVisible()


@pytest.mark.slow
def test_first_run_prepares_bundled_backbone_and_demo_dataset(qtbot, workdir: Path) -> None:
    from studio_desktop.gui.main_window import MainWindow

    wd = open_workdir()
    window = MainWindow(wd)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.first_run.finished, timeout=300_000) as blocker:
        window.start_first_run()
        assert window.progress.isVisible()
    assert blocker.args[0] == 0, bytes(window.first_run.readAllStandardError().data()).decode()
    assert window.datasets.rowCount() == 1
    assert window.datasets.item(0, 0).text() == "studio-desktop-demo"
    assert (wd.models / "SmolLM2-135M-Instruct" / "config.json").exists()
    assert Catalog(wd.catalog_path).get_setting(DEMO_DONE_KEY) is True
