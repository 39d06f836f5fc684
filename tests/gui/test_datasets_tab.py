"""The Datasets tab, the import dialog and CommandRunner, with real ``studio-desktop`` child processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QTextCursor

from studio_desktop.gui.dialogs.import_dataset import ImportDatasetDialog
from studio_desktop.gui.dialogs.import_support import dropped_data_path
from studio_desktop.gui.process import CommandRunner, error_message, parse_progress
from studio_desktop.gui.tabs.datasets import DatasetsTab
from studio_desktop.gui.widgets.dataset_views import TRAINED_BACKGROUND
from studio_desktop.jobs.catalog import Catalog, ExperimentRecord, now_iso
from studio_desktop.jobs.datasets import load_meta
from studio_desktop.jobs.launcher import app_command
from studio_desktop.jobs.workdir import Workdir

CHILD_TIMEOUT_MS = 120_000


def write_csv(path: Path, rows: int = 30) -> Path:
    """A small prompt/answer CSV with a system column."""
    pd.DataFrame(
        {
            "question": [f"What is item {i}?" for i in range(rows)],
            "response": [f"Item {i} is the number {i} written as words." for i in range(rows)],
            "system_prompt": ["Answer briefly."] * rows,
        }
    ).to_csv(path, index=False)
    return path


def cli_import(root: Path, source: Path, backbone: Path, name: str) -> Workdir:
    """Import with the real CLI in a child process."""
    command = app_command(
        ["dataset", "import", str(source), "--name", name, "--backbone", str(backbone)], root
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return Workdir(root)


def run_to_end(qtbot, runner: CommandRunner, arguments: list[str]) -> tuple[str, str]:
    """Start a command and wait for its outcome: ("ok", stdout) or ("failed", message)."""
    outcome: list[tuple[str, str]] = []
    runner.finished_ok.connect(lambda out: outcome.append(("ok", out)))
    runner.failed.connect(lambda message: outcome.append(("failed", message)))
    runner.start(arguments)
    qtbot.waitUntil(lambda: bool(outcome), timeout=CHILD_TIMEOUT_MS)
    return outcome[0]


@pytest.fixture(scope="module")
def shown_workdir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Workdir:
    """A working directory holding one dataset imported by the CLI (read only for the tests using it)."""
    root = tmp_path_factory.mktemp("shown")
    source = write_csv(root / "items.csv")
    return cli_import(root / "workdir", source, tiny_model_dir, "items")


def test_runner_imports_a_csv_and_reports_progress(qtbot, tmp_path: Path, tiny_model_dir: Path) -> None:
    source = write_csv(tmp_path / "qa.csv")
    runner = CommandRunner(tmp_path / "workdir")
    stages: list[tuple[str, float]] = []
    runner.progress.connect(lambda stage, fraction: stages.append((stage, fraction)))
    arguments = ["dataset", "import", str(source), "--name", "qa", "--backbone", str(tiny_model_dir)]
    kind, stdout = run_to_end(qtbot, runner, arguments)
    assert kind == "ok", stdout
    assert "imported qa: 30 rows" in stdout
    assert stages[0] == ("Reading data", 0.05)
    assert stages[-1] == ("Done", 1.0)
    assert [f for _, f in stages] == sorted(f for _, f in stages)
    assert Catalog(tmp_path / "workdir" / "catalog.sqlite").dataset("qa").rows == 30
    assert not runner.is_running()


def test_runner_reports_a_broken_jsonl_line_without_traceback(
    qtbot, tmp_path: Path, tiny_model_dir: Path
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "answer": "b"}\n{"prompt": "c", "answer": \n', encoding="utf-8")
    runner = CommandRunner(tmp_path / "workdir")
    arguments = ["dataset", "import", str(broken), "--json", "--backbone", str(tiny_model_dir)]
    kind, message = run_to_end(qtbot, runner, arguments)
    assert kind == "failed"
    assert "broken.jsonl (line 2)" in message
    assert "Traceback" not in message
    assert not message.startswith("error:")


def test_runner_cancel_stops_the_child(qtbot, tmp_path: Path) -> None:
    runner = CommandRunner(tmp_path / "workdir")
    runner.finished_ok.connect(lambda _: pytest.fail("a cancelled command must not finish"))
    with qtbot.waitSignal(runner.cancelled, timeout=CHILD_TIMEOUT_MS):
        runner.start(["dataset", "list"])
        qtbot.waitUntil(runner.is_running)
        runner.cancel()
    assert not runner.is_running()


def test_progress_and_error_parsing() -> None:
    assert parse_progress("[#########---------------------]  30% Splitting") == ("Splitting", 0.3)
    assert parse_progress("Writing model shards: 100%") is None
    stderr = "some warning\nerror: data.csv (row 4): the answer is empty;\nfill it in\n"
    assert (
        error_message(stderr, 1, "studio-desktop x") == "data.csv (row 4): the answer is empty;\nfill it in"
    )
    crash = "Traceback (most recent call last):\n  File 'x.py', line 1\nValueError: bad\n"
    assert (
        error_message(crash, 1, "studio-desktop x")
        == "'studio-desktop x' stopped with exit code 1: ValueError: bad"
    )


def test_tab_shows_dataset_rows_sample_and_insights(qtbot, shown_workdir: Workdir) -> None:
    catalog = Catalog(shown_workdir.catalog_path)
    tab = DatasetsTab(shown_workdir, catalog)
    qtbot.addWidget(tab)
    assert tab.list_model.rowCount() == 1
    assert tab.list_model.data(tab.list_model.index(0, 0)) == "items"
    assert tab.selected_name() == "items"
    record = catalog.dataset("items")
    assert tab.data_model.rowCount() == record.train_conversations
    assert list(tab.data_model.frame.columns) == ["conversation", "system", "turns", "prompt", "answer"]
    assert tab.data_model.frame["system"].eq("Answer briefly.").all()
    assert f"of {record.train_conversations}" in tab.page_label.text()
    answer = tab.data_model.frame.iloc[0]["answer"]
    prompt = tab.data_model.frame.iloc[0]["prompt"]
    text = tab.sample_view.toPlainText()
    assert answer in text and prompt in text
    assert background_at(tab, text.index(answer) + 1) == TRAINED_BACKGROUND
    assert background_at(tab, text.index(prompt) + 1) != TRAINED_BACKGROUND
    assert "trained" in tab.legend.text()
    for key in ("prompt_tokens", "answer_tokens", "total_tokens", "turns_histogram"):
        heights = list(tab.bars[key].opts["height"])
        assert sum(heights) == record.conversations, key
    assert "0.0%" in tab.insights.text()
    assert "Tokens counted with" in tab.insights.text()
    stats = {**load_meta(record)["statistics"], "conversations": 100_000, "token_samples": 2_000}
    tab.insights_panel.show_statistics(stats)
    assert "estimated from 2,000 of 100,000 conversations" in tab.insights.text()
    assert tab.delete_button.isEnabled() and tab.experiment_button.isEnabled()
    with qtbot.waitSignal(tab.new_experiment) as blocker:
        tab.experiment_button.click()
    assert blocker.args == ["items"]
    assert not tab.select_dataset("missing")


def background_at(tab: DatasetsTab, position: int) -> str:
    cursor = QTextCursor(tab.sample_view.document())
    cursor.setPosition(position)
    return cursor.charFormat().background().color().name()


def test_delete_asks_first_and_is_refused_while_an_experiment_uses_the_dataset(
    qtbot, tmp_path: Path, tiny_model_dir: Path
) -> None:
    workdir = cli_import(tmp_path / "workdir", write_csv(tmp_path / "d.csv"), tiny_model_dir, "doomed")
    catalog = Catalog(workdir.catalog_path)
    tab = DatasetsTab(workdir, catalog)
    qtbot.addWidget(tab)
    questions: list[str] = []
    warnings: list[str] = []
    tab.warn = lambda _title, text: warnings.append(text)
    tab.confirm = lambda _title, text: questions.append(text) or False
    assert not tab.delete_selected()
    assert questions and "doomed" in questions[0]
    catalog.add_experiment(
        ExperimentRecord("exp1", str(workdir.experiment_dir("exp1")), "doomed", "causal_lm", "b", now_iso())
    )
    tab.confirm = lambda _title, _text: True
    assert not tab.delete_selected()
    assert "exp1" in warnings[0]
    assert catalog.has_dataset("doomed")
    catalog.remove_experiment("exp1")
    with qtbot.waitSignal(tab.datasets_changed):
        assert tab.delete_selected()
    assert not catalog.has_dataset("doomed")
    assert not Path(workdir.dataset_dir("doomed")).exists()
    assert tab.list_model.rowCount() == 0
    assert tab.details.currentWidget() is tab.placeholder
    assert not tab.delete_button.isEnabled()


def test_import_dialog_prefills_name_and_columns_from_the_header(qtbot, tmp_path: Path) -> None:
    source = tmp_path / "my data.csv"
    pd.DataFrame({"id": ["1"], "instruction": ["Say hi"], "output": ["hi"], "parent": [""]}).to_csv(
        source, index=False
    )
    workdir = Workdir(tmp_path / "workdir")
    workdir.root.mkdir()
    dialog = ImportDatasetDialog(workdir, Catalog(workdir.catalog_path), str(source))
    qtbot.addWidget(dialog)
    assert dialog.name_edit.text() == "my-data"
    boxes = dialog.column_boxes
    assert boxes["prompt_column"].currentText() == "instruction"
    assert boxes["answer_column"].currentText() == "output"
    assert boxes["id_column"].currentText() == "id"
    assert boxes["parent_id_column"].currentText() == "parent"
    assert boxes["system_column"].currentText() == "(detect)"
    assert "alpaca" in dialog.detection.text()
    assert dialog.head_model.rowCount() == 1
    arguments = dialog.arguments()
    assert arguments[:4] == ["dataset", "import", str(source), "--json"]
    assert not [a for a in arguments if a.endswith("-column")]
    boxes["answer_column"].setCurrentText("parent")
    dialog.split_size.setValue(25)
    assert dialog.arguments()[-8:-4] == ["--answer-column", "parent", "--validation-size", "0.25"]
    assert dialog.import_button.isEnabled()
    dialog.name_edit.setText("bad name!")
    assert not dialog.import_button.isEnabled()
    assert "name" in dialog.import_button.toolTip()


def test_import_dialog_runs_the_import_and_shows_errors(qtbot, tmp_path: Path, tiny_model_dir: Path) -> None:
    workdir = Workdir(tmp_path / "workdir")
    workdir.root.mkdir()
    tab = DatasetsTab(workdir, Catalog(workdir.catalog_path))
    qtbot.addWidget(tab)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "answer": "b"}\n{oops}\n', encoding="utf-8")
    dialog = tab.open_import_dialog(str(broken))
    dialog.backbone_edit.setText(str(tiny_model_dir))
    dialog.start_import()
    assert not dialog.form.isEnabled()
    qtbot.waitUntil(lambda: bool(dialog.error.text()), timeout=CHILD_TIMEOUT_MS)
    assert "broken.jsonl (line 2)" in dialog.error.text()
    assert dialog.form.isEnabled() and dialog.isVisible()
    dialog.set_source(str(write_csv(tmp_path / "second.csv", rows=12)))
    assert dialog.name_edit.text() == "second"
    with qtbot.waitSignal(dialog.imported, timeout=CHILD_TIMEOUT_MS) as blocker:
        dialog.import_button.click()
    assert blocker.args == ["second"]
    assert tab.import_dialog is None
    assert [r.name for r in tab.records] == ["second"]
    assert tab.selected_name() == "second"
    assert tab.data_model.frame["prompt"].str.startswith("What is item").all()


def test_dropping_a_data_file_opens_the_prefilled_dialog(qtbot, tmp_path: Path) -> None:
    workdir = Workdir(tmp_path / "workdir")
    workdir.root.mkdir()
    tab = DatasetsTab(workdir, Catalog(workdir.catalog_path))
    qtbot.addWidget(tab)
    assert tab.details.currentWidget() is tab.placeholder
    source = write_csv(tmp_path / "dropped.csv")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(source))])
    event = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tab.dropEvent(event)
    assert tab.import_dialog is not None
    qtbot.addWidget(tab.import_dialog)
    assert tab.import_dialog.path_edit.text() == str(source)
    assert tab.import_dialog.column_boxes["prompt_column"].currentText() == "question"
    picture = tmp_path / "notes.png"
    picture.write_bytes(b"x")
    other = QMimeData()
    other.setUrls([QUrl.fromLocalFile(str(picture))])
    assert dropped_data_path(other) is None
    assert dropped_data_path(mime) == str(source)
    text_file = tmp_path / "notes.md"  # raw text for continued pretraining
    text_file.write_text("x", encoding="utf-8")
    notes = QMimeData()
    notes.setUrls([QUrl.fromLocalFile(str(text_file))])
    assert dropped_data_path(notes) == str(text_file)


def test_samples_counted_from_a_prefix_are_said_to_be() -> None:
    from studio_desktop.gui.widgets.dataset_views import capped_note

    assert capped_note({"capped_samples": 0}) == ""
    note = capped_note({"capped_samples": 2, "capped_chars": 16384})
    assert "2 samples longer than 16,384 characters were counted from that prefix" in note
    assert "lower bounds" in note


def test_a_folder_of_text_files_imports_as_raw_text_and_shows_tokens_and_blocks(
    qtbot, tmp_path: Path, tiny_model_dir: Path
) -> None:
    workdir = Workdir(tmp_path / "workdir")
    workdir.root.mkdir()
    tab = DatasetsTab(workdir, Catalog(workdir.catalog_path))
    qtbot.addWidget(tab)
    folder = tmp_path / "handbook"
    folder.mkdir()
    for index in range(6):
        (folder / f"chapter-{index}.md").write_text(f"# Chapter {index}\n\nLoRA rank sets the capacity.\n")
    dialog = tab.open_import_dialog(str(folder))
    assert "Raw text: 6 text files, each one document" in dialog.detection.text()
    assert dialog.format_box.currentData() == "text" and not dialog.format_box.isEnabled()
    assert not dialog.column_boxes["prompt_column"].isEnabled()
    assert "chapter-0.md: # Chapter 0 LoRA rank" in dialog.preview.toPlainText().replace("\n", " ")
    assert list(dialog.head_model.frame.columns) == ["document", "characters", "text"]
    dialog.backbone_edit.setText(str(tiny_model_dir))
    with qtbot.waitSignal(dialog.imported, timeout=CHILD_TIMEOUT_MS):
        dialog.import_button.click()
    assert tab.selected_name() == "handbook"
    assert tab.data_model.frame["document"].str.startswith("chapter-").all()
    assert tab.page_label.text().startswith("Documents 1–")
    assert "raw text: continued pretraining trains on every token" in tab.legend.text()
    text = tab.insights.text()
    assert (
        "6 documents" in text
        and "tokens</b> (counted with" in text
        and "blocks</b> of max_length 512" in text
    )
    assert tab.plots["total_tokens"].isVisibleTo(tab.insights_panel)
    assert not tab.plots["prompt_tokens"].isVisibleTo(tab.insights_panel)
    dialog = tab.open_import_dialog(str(write_csv(tmp_path / "qa.csv", rows=4)))
    assert dialog.format_box.isEnabled() and dialog.format_box.currentData() is None  # back to detection
