"""DataFrameModel paging and eliding, and the frames the GUI reads from files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PySide6.QtCore import Qt

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.store import write_conversations
from studio_desktop.gui.models.dataframe_model import (
    DataFrameModel,
    conversations_frame,
    elide,
    read_head,
)

DISPLAY = Qt.ItemDataRole.DisplayRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole


def test_shows_cells_as_text_with_headers(qtbot) -> None:
    model = DataFrameModel(pd.DataFrame({"name": ["a", "b"], "rows": [3, 40], "score": [0.5, None]}))
    assert (model.rowCount(), model.columnCount()) == (2, 3)
    assert model.data(model.index(1, 0), DISPLAY) == "b"
    assert model.data(model.index(1, 1), DISPLAY) == "40"
    assert model.data(model.index(1, 2), DISPLAY) == "nan"
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)] == ["name", "rows", "score"]
    assert model.headerData(1, Qt.Orientation.Vertical) == "2"
    right = model.data(model.index(0, 1), Qt.ItemDataRole.TextAlignmentRole)
    assert right is not None and right & int(Qt.AlignmentFlag.AlignRight)
    assert model.data(model.index(0, 0), Qt.ItemDataRole.TextAlignmentRole) is None


def test_long_text_is_elided_for_display_and_complete_in_the_tooltip(qtbot) -> None:
    text = "word " * 200
    model = DataFrameModel(pd.DataFrame({"answer": [text, "short"]}), max_chars=300)
    shown = model.data(model.index(0, 0), DISPLAY)
    assert len(shown) == 300
    assert shown.endswith("…")
    assert text.startswith(shown[:-1])
    assert model.data(model.index(0, 0), TOOLTIP) == text
    assert model.data(model.index(1, 0), DISPLAY) == "short"
    assert elide("abcdef", 4) == "abc…"
    assert elide("abcd", 4) == "abcd"


def test_pages_split_the_rows_and_number_them_across_pages(qtbot) -> None:
    model = DataFrameModel(pd.DataFrame({"n": range(25)}), page_size=10)
    assert model.page_count == 3
    assert model.rowCount() == 10
    with qtbot.waitSignal(model.page_changed) as changed, qtbot.waitSignal(model.modelReset):
        model.set_page(2)
    assert changed.args == [2]
    assert model.rowCount() == 5
    assert model.data(model.index(0, 0), DISPLAY) == "20"
    assert model.headerData(0, Qt.Orientation.Vertical) == "21"
    model.set_page(99)
    assert model.page == 2
    model.set_page(-1)
    assert model.page == 0
    model.set_page(1)
    model.set_frame(pd.DataFrame({"n": range(3)}))
    assert (model.page, model.page_count, model.rowCount()) == (0, 1, 3)


def test_empty_frame_has_one_empty_page(qtbot) -> None:
    model = DataFrameModel()
    assert (model.rowCount(), model.columnCount(), model.page_count) == (0, 0, 1)
    with pytest.raises(ValueError, match="page_size"):
        DataFrameModel(page_size=0)


def test_conversations_frame_flattens_stored_conversations(tmp_path: Path) -> None:
    conversations = [
        Conversation(
            f"c{i}",
            f"c{i}",
            "Be brief." if i == 0 else "",
            (
                Message("user", f"first {i}"),
                Message("assistant", f"reply {i}"),
                Message("user", f"second {i}"),
                Message("assistant", f"answer {i}"),
            )[: 4 if i % 2 else 2],
            i + 1,
        )
        for i in range(5)
    ]
    write_conversations(conversations, tmp_path / "train.parquet")
    frame, total = conversations_frame(tmp_path / "train.parquet")
    assert total == 5
    assert list(frame.columns) == ["conversation", "system", "turns", "prompt", "answer"]
    assert frame.iloc[0].tolist() == ["c0", "Be brief.", 1, "first 0", "reply 0"]
    assert frame.iloc[1].tolist() == ["c1", "", 2, "second 1", "answer 1"]
    frame, total = conversations_frame(tmp_path / "train.parquet", limit=3)
    assert (len(frame), total) == (3, 5)


def test_read_head_reads_only_the_first_rows(tmp_path: Path) -> None:
    rows = [{"question": f"q{i}", "response": f"r{i}"} for i in range(120)]
    pd.DataFrame(rows).to_csv(tmp_path / "data.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "data.parquet")
    (tmp_path / "data.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows[:3]) + "\n{broken", encoding="utf-8"
    )
    (tmp_path / "data.json").write_text(json.dumps({"data": rows}), encoding="utf-8")
    for name in ("data.csv", "data.parquet", "data.json"):
        head = read_head(tmp_path / name, rows=50)
        assert list(head.columns) == ["question", "response"], name
        assert len(head) == 50, name
        assert head.iloc[49]["response"] == "r49", name
    assert read_head(tmp_path / "data.jsonl", rows=3)["question"].tolist() == ["q0", "q1", "q2"]
    with pytest.raises(ValueError, match="line 4 is not valid JSON"):
        read_head(tmp_path / "data.jsonl", rows=50)
    with pytest.raises(ValueError, match="unsupported"):
        read_head(tmp_path / "notes.txt")
