"""The window is killed mid-run: the run goes on, and a new window shows every point from the event file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio_desktop.core.config_io import save_config
from studio_desktop.core.events import Metric
from studio_desktop.jobs.datasets import DEMO_DONE_KEY
from studio_desktop.jobs.experiment import Experiment

ROOT = Path(__file__).resolve().parents[2]
GUI_SCRIPT = """
import sys, time
from PySide6.QtWidgets import QApplication
from studio_desktop.core.config_io import load_config
from studio_desktop.gui.main_window import MainWindow
from studio_desktop.jobs.workdir import open_workdir
app = QApplication([])
window = MainWindow(open_workdir(sys.argv[1]))
window.show()
window.start_experiment(load_config(sys.argv[2]).config)
print("started", flush=True)
app.exec()
"""


@pytest.mark.slow
def test_killing_the_window_loses_nothing(qtbot, trained_workdir, make_config, tmp_path: Path) -> None:
    wd, catalog = trained_workdir
    catalog.set_setting(DEMO_DONE_KEY, True)
    config = save_config(make_config("survivor", training__epochs=25), tmp_path / "cfg.yaml")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    gui = subprocess.Popen(
        [sys.executable, "-c", GUI_SCRIPT, str(wd.root), str(config)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert gui.stdout.readline().strip() == "started"
    experiment = Experiment(wd.experiments / "survivor")
    deadline = time.monotonic() + 120
    while experiment.status() != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    gui.send_signal(signal.SIGKILL)
    gui.wait()
    assert experiment.status() == "running"
    deadline = time.monotonic() + 300
    while experiment.status() == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert experiment.status() == "finished", experiment.events()[-2:]

    from studio_desktop.gui.main_window import MainWindow

    window = MainWindow(wd)
    qtbot.addWidget(window)
    window.show_experiment("survivor")
    x, y = window.experiments.curves.curves["train/loss"].getData()
    in_file = [
        (e.step, e.values["train/loss"])
        for e in experiment.events()
        if isinstance(e, Metric) and "train/loss" in e.values
    ]
    assert list(zip(x.astype(int).tolist(), y.tolist(), strict=True)) == in_file
    assert len(in_file) == 100
