"""The Chat tab over real chat worker processes on the tiny model."""

from __future__ import annotations

import os
from pathlib import Path

from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import EXIT_FINISHED, run_training

ROOT = Path(__file__).resolve().parents[2]


def test_chat_and_compare_with_the_base_model(qtbot, trained_workdir, make_config, tiny_model_dir) -> None:
    from studio_desktop.gui.tabs.chat import ChatTab

    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    experiment = create_experiment(wd, catalog, make_config("tuned", training__epochs=1))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    tab = ChatTab(wd, catalog)
    qtbot.addWidget(tab)
    options = [tab.panes[0].model.itemText(i) for i in range(tab.panes[0].model.count())]
    assert options[0] == "tuned" and "HuggingFaceTB/SmolLM2-135M-Instruct" in options

    tab.compare.setChecked(True)
    tuned, base = tab.panes
    tuned.model.setCurrentText("tuned")
    base.model.setCurrentText(str(tiny_model_dir))
    with qtbot.waitSignals([tuned.session.ready, base.session.ready], timeout=120_000):
        tuned.load()
        base.load()
    tab.editors["max_length_inference"].setValue(6)
    tab.prompt.setPlainText("What colour is the sky?")
    with qtbot.waitSignals([tuned.session.done, base.session.done], timeout=120_000) as blocker:
        tab.send()
    assert tab.prompt.toPlainText() == ""
    for pane in (tuned, base):
        assert [turn["role"] for turn in pane.history] == ["user", "assistant"]
        assert "tokens in" in pane.status.text()
        assert "What colour is the sky?" in pane.transcript.toPlainText()
    assert all(signal_args for signal_args in blocker.all_signals_and_args)

    tab.prompt.setPlainText("And the grass?")
    with qtbot.waitSignal(tuned.session.done, timeout=120_000):
        tab.send()
    assert len(tuned.history) == 4
    tab.clear()
    assert tuned.history == [] and base.history == []
    with qtbot.waitSignals([tuned.session.ended, base.session.ended], timeout=30_000):
        tab.shutdown()


def test_a_model_that_cannot_load_shows_the_error(qtbot, trained_workdir) -> None:
    from studio_desktop.gui.tabs.chat import ChatTab

    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    tab = ChatTab(wd, catalog)
    qtbot.addWidget(tab)
    pane = tab.panes[0]
    pane.model.setCurrentText("/no/such/model")
    with qtbot.waitSignal(pane.session.ended, timeout=60_000):
        pane.load()
    assert pane.status.text().startswith("Error:")
    assert "/no/such/model" in pane.status.text()
    assert "Traceback" not in pane.status.text()


def test_a_classifier_answers_with_its_prediction_and_takes_no_generation_settings(
    qtbot, trained_workdir, make_config, tiny_model_dir
) -> None:
    from studio_desktop.gui.tabs.chat import ChatTab
    from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
    from tests.worker.test_heads import labelled_rows, write_rows

    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    source = write_rows(wd.root.parent / "labels.csv", ["text", "label"], labelled_rows(16, 2))
    import_dataset(wd, catalog, ImportRequest(source=source, name="labels", backbone=str(tiny_model_dir)))
    cfg = make_config("sorter", problem_type="text_causal_classification_modeling")
    cfg = cfg.replace({"dataset.train_dataframe": "labels", "training.epochs": 1})
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    tab = ChatTab(wd, catalog)
    qtbot.addWidget(tab)
    pane = tab.panes[0]
    pane.model.setCurrentText("sorter")
    with qtbot.waitSignal(pane.session.ready, timeout=120_000):
        pane.load()
    assert "a classification model" in pane.status.text()
    assert not tab.settings.isEnabled()
    tab.prompt.setPlainText("Item 3: the dog is lazy.")
    with qtbot.waitSignal(pane.session.done, timeout=120_000):
        tab.send()
    assert pane.history[-1]["content"].startswith("Predicted label: ")
    assert pane.status.text().startswith("Scored in ")
    tab.compare.setChecked(True)
    assert not tab.settings.isEnabled()  # the second pane has no model yet
    with qtbot.waitSignal(pane.session.ended, timeout=30_000):
        tab.shutdown()
