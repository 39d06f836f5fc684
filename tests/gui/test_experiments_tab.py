"""The Experiments tab over real runs of the tiny model: list, live curves, stop, resume, delete."""

from __future__ import annotations

import os
from pathlib import Path

from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import EXIT_FINISHED, run_training

ROOT = Path(__file__).resolve().parents[2]


def make_tab(qtbot, wd, catalog):
    from studio_desktop.gui.tabs.experiments import ExperimentsTab

    tab = ExperimentsTab(wd, catalog)
    qtbot.addWidget(tab)
    tab.resize(1100, 700)
    tab.show()
    return tab


def points(tab, name: str) -> int:
    x, _ = tab.curves.curves[name].getData()
    return 0 if x is None else len(x)


def row_of(tab, name: str) -> dict[str, str]:
    headers = [tab.table.horizontalHeaderItem(c).text() for c in range(tab.table.columnCount())]
    for row in range(tab.table.rowCount()):
        if tab.table.item(row, 0).text() == name:
            return {h: tab.table.item(row, c).text() for c, h in enumerate(headers)}
    raise AssertionError(f"{name} not listed")


def test_a_finished_run_is_listed_with_its_curves(qtbot, trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("done", training__evaluation_epochs=0.5))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    tab = make_tab(qtbot, wd, catalog)
    row = row_of(tab, "done")
    assert row["Status"] == "finished"
    assert row["Progress"] == "8/8 (100%)"
    assert row["Val loss"] != "-"
    tab.select_experiment("done")
    x, _ = tab.curves.curves["train/loss"].getData()
    assert len(x) == 8 and list(x) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert len(tab.curves.curves["val/loss"].getData()[0]) == 4
    tab.curves.x_axis.setCurrentText("Epoch")
    assert tab.curves.curves["train/loss"].getData()[0][-1] == 2.0
    assert "finished" in tab.log_view.toPlainText()
    assert "experiment_name: done" in tab.config_view.toPlainText()


def test_start_stop_resume_and_delete_from_the_tab(qtbot, trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    experiment = create_experiment(wd, catalog, make_config("live", training__epochs=40))
    tab = make_tab(qtbot, wd, catalog)
    tab.start(experiment)
    qtbot.waitUntil(lambda: row_of(tab, "live")["Status"] == "running", timeout=60_000)
    tab.select_experiment("live")
    qtbot.waitUntil(lambda: points(tab, "train/loss") >= 3, timeout=60_000)
    tab.stop_selected()
    qtbot.waitUntil(lambda: row_of(tab, "live")["Status"] == "stopped", timeout=60_000)
    assert experiment.latest_checkpoint() is not None
    stopped_at = tab.trackers["live"].state.progress.step

    tab.resume_selected()
    qtbot.waitUntil(lambda: tab.trackers["live"].state.progress.step > stopped_at, timeout=60_000)
    tab.stop_selected()
    qtbot.waitUntil(lambda: row_of(tab, "live")["Status"] == "stopped", timeout=60_000)

    tab.confirm = lambda _question: True
    tab.delete_selected()
    assert catalog.experiments() == []
    assert not experiment.path.exists()
    assert tab.table.rowCount() == 0


def test_a_reopened_tab_redraws_everything_from_the_file(qtbot, trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("again", training__epochs=1))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    first = make_tab(qtbot, wd, catalog)
    first.select_experiment("again")
    drawn = list(first.curves.curves["train/loss"].getData()[1])
    first.close()
    second = make_tab(qtbot, wd, catalog)
    second.select_experiment("again")
    assert list(second.curves.curves["train/loss"].getData()[1]) == drawn
