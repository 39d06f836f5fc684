"""The import dialog's preview of the column mapping."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from studio_desktop.gui.dialogs.import_support import preview_html


def test_preview_shows_conversations_or_the_problem(tmp_path: Path) -> None:
    head = pd.DataFrame({"q": ["Hi?", "Why?"], "a": ["Hello.", ""], "sys": ["Be brief.", "Be brief."]})
    source = tmp_path / "data.csv"
    text = preview_html(
        head.iloc[:1], source, {"prompt_columns": ["q"], "answer_column": "a", "system_column": "sys"}
    )
    assert "<b>System:</b> Be brief." in text
    assert "<b>User:</b> Hi?" in text and "<b>Assistant:</b> Hello." in text
    problem = preview_html(head, source, {"prompt_columns": ["q"], "answer_column": "a"})
    assert "(row 2, field &#x27;a&#x27;): the answer is empty" in problem and "color:#b00020" in problem
    assert preview_html(pd.DataFrame(), source, {}) == ""


def test_the_dialog_previews_the_detected_mapping_and_follows_changes(
    qtbot, workdir: Path, tmp_path: Path
) -> None:
    from studio_desktop.gui.dialogs.import_dataset import ImportDatasetDialog
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.workdir import open_workdir

    source = tmp_path / "qa.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [("prompt", "answer", "note"), ("What is LoRA?", "Small adapters.", "x")]
        )
    wd = open_workdir()
    dialog = ImportDatasetDialog(wd, Catalog(wd.catalog_path), str(source))
    qtbot.addWidget(dialog)
    assert (
        "<b>User:</b> What is LoRA?" in dialog.preview.toHtml().replace("&lt;", "<")
        or "What is LoRA?" in dialog.preview.toPlainText()
    )
    assert "Assistant: Small adapters." in dialog.preview.toPlainText()
    answer = dialog.column_boxes["answer_column"]
    answer.setCurrentIndex(answer.findData("note"))
    assert "Assistant: x" in dialog.preview.toPlainText()
