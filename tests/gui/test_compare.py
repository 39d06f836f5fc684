"""Comparing runs: multi-selection in the Experiments tab, overlaid curves and the config differences."""

from __future__ import annotations

from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import EXIT_FINISHED, run_training


def test_config_rows_flag_the_settings_that_differ() -> None:
    from studio_desktop.gui.widgets.compare import config_rows, flatten_config

    a = {"experiment_name": "a", "training": {"epochs": 2, "learning_rate": 0.1}}
    b = {"experiment_name": "b", "training": {"epochs": 2, "learning_rate": 0.2}, "extra": {"x": 1}}
    assert flatten_config(a) == {"experiment_name": "a", "training.epochs": 2, "training.learning_rate": 0.1}
    rows = {key: (values, differs) for key, values, differs in config_rows([a, b])}
    assert rows["training.epochs"] == (["2", "2"], False)
    assert rows["training.learning_rate"] == (["0.1", "0.2"], True)
    assert rows["extra.x"] == (["", "1"], True)


def test_compare_two_runs_from_the_tab(qtbot, trained_workdir, make_config) -> None:
    from studio_desktop.gui.tabs.experiments import ExperimentsTab

    wd, catalog = trained_workdir
    for name, rate in (("slow", 0.001), ("fast", 0.01)):
        experiment = create_experiment(
            wd, catalog, make_config(name, training__epochs=1, training__learning_rate=rate)
        )
        assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    tab = ExperimentsTab(wd, catalog)
    qtbot.addWidget(tab)
    tab.show()
    compare = tab.action_buttons["Compare"]
    tab.select_experiment("slow")
    assert not compare.isEnabled()
    tab.select_experiments(["slow", "fast"], current="fast")
    tab.refresh()
    assert sorted(tab.selected_names()) == ["fast", "slow"] and tab.selected_name() == "fast"
    assert compare.isEnabled() and not tab.action_buttons["Export…"].isEnabled()
    compare.click()
    view = tab.compare_view
    assert view is not None and view.isVisible()

    for name in ("slow", "fast"):
        x, y = view.curves[(name, "train/loss")].getData()
        assert list(x) == list(tab.runs.tracker(name).state.series["train/loss"].steps)
        assert list(y) == list(tab.runs.tracker(name).state.series["train/loss"].values)
        assert len(view.curves[(name, "val/loss")].getData()[0]) >= 1
    pens = {view.curves[(name, "train/loss")].opts["pen"].color().name() for name in ("slow", "fast")}
    assert len(pens) == 2
    legend = [label.text for _sample, label in view.plots["train/loss"].getPlotItem().legend.items]
    assert sorted(legend) == ["fast", "slow"]
    view.x_axis.setCurrentText("Epoch")
    assert view.curves[("slow", "train/loss")].getData()[0][-1] == 1.0

    assert view.differences_only.isChecked()
    shown = view.visible_settings()
    assert "training.learning_rate" in shown and "experiment_name" in shown
    assert "training.epochs" not in shown
    view.differences_only.setChecked(False)
    assert "training.epochs" in view.visible_settings()
    assert view.config_table.columnCount() == 2
