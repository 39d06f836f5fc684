"""The whole loop in the window on the tiny model: import, new experiment, live curves, chat, export.

Every step goes through the real widgets and real child processes (import, training worker, chat worker,
export), as a user would drive them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from studio_desktop.jobs.datasets import DEMO_DONE_KEY
from tests.support.facts import FACTS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "peft", "datasets", "accelerate", "bitsandbytes")


def test_import_train_chat_export_in_the_window(
    qtbot, workdir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from studio_desktop.gui.main_window import MainWindow
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.workdir import open_workdir

    os.environ["PYTHONPATH"] = str(ROOT)
    wd = open_workdir()
    Catalog(wd.catalog_path).set_setting(DEMO_DONE_KEY, True)
    window = MainWindow(wd)
    qtbot.addWidget(window)
    window.show()

    source = tmp_path / "facts.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("question", "answer"), *FACTS])
    dialog = window.datasets.open_import_dialog(str(source))
    dialog.backbone_edit.setText(str(tiny_model_dir))
    with qtbot.waitSignal(dialog.imported, timeout=120_000):
        dialog.start_import()
    window.datasets.refresh()
    assert window.datasets.select_dataset("facts")

    from studio_desktop.gui.dialogs.new_experiment import NewExperimentDialog

    form_dialog = NewExperimentDialog(window.catalog, parent=window)
    qtbot.addWidget(form_dialog)
    cfg = form_dialog.config().replace(
        {
            "experiment_name": "loop",
            "llm_backbone": str(tiny_model_dir),
            "dataset.validation_size": 0.2,
            "architecture.backbone_dtype": "float32",
            "environment.mixed_precision": False,
            "training.epochs": 2,
            "training.batch_size": 2,
            "prediction.max_length_inference": 6,
        }
    )
    assert cfg.dataset.train_dataframe == "facts"
    window.start_experiment(cfg)
    tracker = window.experiments.runs.tracker("loop")
    qtbot.waitUntil(lambda: tracker.experiment.status() == "finished", timeout=180_000)
    window.experiments.refresh()
    window.experiments.select_experiment("loop")
    x, _ = window.experiments.curves.curves["train/loss"].getData()
    assert x is not None and len(x) == 8

    window.chat.refresh()
    pane = window.chat.panes[0]
    pane.model.setCurrentText("loop")
    with qtbot.waitSignal(pane.session.ready, timeout=120_000):
        pane.load()
    window.chat.editors["max_length_inference"].setValue(4)
    window.chat.prompt.setPlainText("What colour is the sky?")
    with qtbot.waitSignal(pane.session.done, timeout=120_000):
        window.chat.send()
    assert [turn["role"] for turn in pane.history] == ["user", "assistant"]

    window.experiments.export_selected()
    export = window.experiments.export_dialog
    export.folder.setText(str(tmp_path / "exported"))
    with qtbot.waitSignal(export.runner.finished_ok, timeout=180_000):
        export.start_export()
    assert (tmp_path / "exported" / "model.safetensors").exists()
    assert (tmp_path / "exported" / "README.md").exists()
    window.chat.shutdown()


def test_the_window_process_loads_no_model_library(workdir: Path) -> None:
    script = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from studio_desktop.gui.main_window import MainWindow\n"
        "from studio_desktop.jobs.workdir import open_workdir\n"
        "window = MainWindow(open_workdir())\n"
        "window.show(); app.processEvents()\n"
        f"heavy = {HEAVY!r}\n"
        "worker = 'studio_desktop.worker'\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(worker)]\n"
        "print(sorted(loaded))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
