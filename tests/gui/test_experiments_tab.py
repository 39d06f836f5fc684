"""The Experiments tab over real runs of the tiny model: list, live curves, stop, resume, delete."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt

from studio_desktop.core.events import Metric
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import EXIT_FINISHED, run_training
from tests.support.facts import FACTS

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
    """The texts the list shows in the run's row, by column header."""
    model = tab.table.model()
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    for row in range(model.rowCount()):
        if model.index(row, 0).data() == name:
            return {h: model.index(row, c).data() for c, h in enumerate(headers)}
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
    val = [
        e.values["val/loss"] for e in experiment.events() if isinstance(e, Metric) and "val/loss" in e.values
    ]
    assert row["Best val loss"] == f"{min(val):.4f}"
    tab.select_experiment("done")
    x, _ = tab.curves.curves["train/loss"].getData()
    assert len(x) == 8 and list(x) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert len(tab.curves.curves["val/loss"].getData()[0]) == 4
    tab.curves.x_axis.setCurrentText("Epoch")
    assert tab.curves.curves["train/loss"].getData()[0][-1] == 2.0
    assert "finished" in tab.log_view.toPlainText()
    assert "experiment_name: done" in tab.config_view.toPlainText()


# Bound for a worker to reach a state on a loaded 2-core machine (a run takes seconds when idle).
LOADED_MACHINE_MS = 300_000


def test_start_stop_resume_and_delete_from_the_tab(qtbot, trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    experiment = create_experiment(wd, catalog, make_config("live", training__epochs=400))
    tab = make_tab(qtbot, wd, catalog)
    tab.start(experiment)
    qtbot.waitUntil(lambda: row_of(tab, "live")["Status"] == "running", timeout=LOADED_MACHINE_MS)
    tab.select_experiment("live")
    qtbot.waitUntil(lambda: points(tab, "train/loss") >= 3, timeout=LOADED_MACHINE_MS)
    tab.stop_selected()
    qtbot.waitUntil(lambda: row_of(tab, "live")["Status"] == "stopped", timeout=LOADED_MACHINE_MS)
    assert experiment.latest_checkpoint() is not None
    stopped_at = tab.runs.tracker("live").state.progress.step

    tab.resume_selected()
    worker = tab.workers[-1]
    qtbot.waitUntil(
        lambda: tab.runs.tracker("live").state.progress.step > stopped_at, timeout=LOADED_MACHINE_MS
    )
    tab.stop_selected()
    qtbot.waitUntil(lambda: row_of(tab, "live")["Status"] == "stopped", timeout=LOADED_MACHINE_MS)

    # Wait on the worker's exit itself (its process object, reaped here), not on the clock.
    qtbot.waitUntil(lambda: worker.poll() is not None, timeout=LOADED_MACHINE_MS)
    assert not experiment.worker_alive()
    tab.confirm = lambda _question: True
    tab.delete_selected()
    assert catalog.experiments() == []
    assert not experiment.path.exists()
    assert tab.table.model().rowCount() == 0


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


def test_predictions_tab_sorts_numerically_and_follows_the_file(qtbot, trained_workdir, make_config) -> None:
    import pandas as pd
    from PySide6.QtCore import Qt

    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("preds", training__epochs=1))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    tab = make_tab(qtbot, wd, catalog)
    tab.select_experiment("preds")
    view = tab.predictions
    headers = [view.proxy.headerData(c, Qt.Orientation.Horizontal) for c in range(view.proxy.columnCount())]
    assert headers[:3] == ["prompt", "target", "prediction"] and "bleu" in headers and "rouge_l" in headers
    assert view.proxy.rowCount() == 2
    targets = {view.proxy.index(r, 1).data() for r in range(2)}
    assert len(targets) == 2 and targets <= {answer for _q, answer in FACTS}

    frame = pd.read_csv(experiment.predictions_path)
    extra = pd.DataFrame(
        {"prompt": ["a", "b", "c"], "target": ["x"] * 3, "prediction": ["y"] * 3, "bleu": [9.0, 100.0, 10.5]}
    )
    pd.concat([frame, extra]).fillna(0.0).to_csv(experiment.predictions_path, index=False)
    tab.refresh()
    assert view.proxy.rowCount() == 5
    bleu = headers.index("bleu")
    view.table.sortByColumn(bleu, Qt.SortOrder.DescendingOrder)
    column = [float(view.proxy.index(r, bleu).data()) for r in range(5)]
    assert column[:3] == [100.0, 10.5, 9.0]
    assert column == sorted(column, reverse=True)


def test_training_data_tab_shows_the_trained_spans(qtbot, trained_workdir, make_config) -> None:
    import json

    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("spans", training__epochs=1))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    preview = json.loads((experiment.path / "batch_preview.json").read_text(encoding="utf-8"))
    assert len(preview["samples"]) == 2  # min(batch_size=2, 4)
    answers = {answer for _q, answer in FACTS}
    questions = {question for question, _a in FACTS}
    for segments in preview["samples"]:
        trained = "".join(s["text"] for s in segments if s["trained"])
        context = "".join(s["text"] for s in segments if not s["trained"])
        assert any(answer in trained for answer in answers)
        assert any(question in context for question in questions)
        assert not any(question in trained for question in questions)
    tab = make_tab(qtbot, wd, catalog)
    tab.select_experiment("spans")
    tab.details.setCurrentWidget(tab.batch_view)
    assert tab.batch_view.samples == preview["samples"]
    html = tab.batch_view.text.toHtml()
    assert "#c8f0c8" in html and "Sample 2" in tab.batch_view.text.toPlainText()
    assert "green: in the loss" in tab.batch_view.legend.text()


def test_sample_segments_decode_runs_of_trained_tokens(tiny_model_dir) -> None:
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from studio_desktop.core.training.preview import sample_segments, write_batch_preview

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = tokenizer("What colour is the sky?", add_special_tokens=False)["input_ids"]
    answer = tokenizer(" The sky is blue.", add_special_tokens=False)["input_ids"]
    ids = prompt + answer
    labels = [-100] * len(prompt) + answer
    segments = sample_segments(tokenizer, ids, labels)
    assert [s["trained"] for s in segments] == [False, True]
    assert "".join(s["text"] for s in segments) == tokenizer.decode(ids)
    sample = SimpleNamespace(input_ids=ids, labels=labels)
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = write_batch_preview(Path(folder), tokenizer, [sample] * 6, batch_size=8)
        assert len(json.loads(path.read_text(encoding="utf-8"))["samples"]) == 4


def test_export_runs_the_cli_and_is_refused_until_finished(qtbot, trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    experiment = create_experiment(wd, catalog, make_config("ship", training__epochs=1))
    create_experiment(wd, catalog, make_config("idle"))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    tab = make_tab(qtbot, wd, catalog)
    button = tab.action_buttons["Export…"]
    tab.select_experiment("idle")
    assert not button.isEnabled() and "idle is created" in button.toolTip()
    tab.select_experiment("ship")
    assert button.isEnabled()
    button.click()
    dialog = tab.export_dialog
    assert dialog is not None and dialog.isVisible()
    assert Path(dialog.folder.text()) == wd.root / "exports" / "ship-merged"
    dialog.format_buttons["adapter"].setChecked(True)
    assert Path(dialog.folder.text()) == wd.root / "exports" / "ship-adapter"
    fractions: list[float] = []
    dialog.runner.progress.connect(lambda _stage, fraction: fractions.append(fraction))
    with qtbot.waitSignal(dialog.runner.finished_ok, timeout=60_000):
        dialog.export_button.click()
    assert (wd.root / "exports" / "ship-adapter" / "adapter_config.json").is_file()
    assert dialog.exported_folder == wd.root / "exports" / "ship-adapter"
    assert dialog.open_button.isVisible() and "Exported ship" in dialog.message.text()
    assert fractions and dialog.progress_bar.value() == 100

    with qtbot.waitSignal(dialog.runner.failed, timeout=60_000):
        dialog.export_button.click()
    assert "exists" in dialog.message.text() and "--overwrite" not in dialog.arguments()
    assert not dialog.open_button.isVisible() and dialog.export_button.isEnabled()


def test_the_export_dialog_writes_a_verified_gguf_file(qtbot, trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    os.environ["PYTHONPATH"] = str(ROOT)
    experiment = create_experiment(wd, catalog, make_config("gguf-ship", training__epochs=1))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    tab = make_tab(qtbot, wd, catalog)
    tab.select_experiment("gguf-ship")
    tab.action_buttons["Export…"].click()
    dialog = tab.export_dialog
    assert not dialog.quant.isEnabled()
    dialog.format_buttons["gguf"].setChecked(True)
    assert dialog.quant.isEnabled() and dialog.quant.currentData() == "q8_0"
    assert Path(dialog.folder.text()) == wd.root / "exports" / "gguf-ship-q8_0"
    dialog.quant.setCurrentIndex(dialog.quant.findData("f16"))
    assert Path(dialog.folder.text()) == wd.root / "exports" / "gguf-ship-f16"
    assert dialog.arguments()[-2:] == ["--quant", "f16"]
    with qtbot.waitSignal(dialog.runner.finished_ok, timeout=120_000):
        dialog.export_button.click()
    assert (wd.root / "exports" / "gguf-ship-f16" / "gguf-ship-f16.gguf").is_file()
    assert (wd.root / "exports" / "gguf-ship-f16" / "Modelfile").is_file()
