"""Column-wise conversion of flat tables: the same conversations, blanks and errors as row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.flat import WHITESPACE, blank, join_prompts, text_array
from studio_desktop.core.data.formats import (
    ColumnMapping,
    DatasetFormat,
    to_conversation_table,
    to_conversations,
)
from studio_desktop.core.data.mapping_guess import guess_mapping
from studio_desktop.core.data.split import split_table, split_train_validation
from studio_desktop.core.data.store import (
    conversations_table,
    read_conversations,
    table_conversations,
    table_turns,
    write_table,
)
from studio_desktop.core.errors import DataError

FILE = "train.csv"
TRICKY = ["", " ", "\t\n", "\x1c", "\u3000", "\u200b", "\x85x", "a", " a ", "\xa0", "é", "\u2028\u2029"]


def test_whitespace_is_exactly_what_str_strip_removes() -> None:
    assert set(WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_blank_agrees_with_str_strip() -> None:
    assert blank(pa.array(TRICKY)).tolist() == [not text.strip() for text in TRICKY]


def test_text_array_reads_cells_as_to_text_does() -> None:
    series = pd.Series(["a", None, 3, float("nan"), 2.5, True], dtype=object)
    assert text_array(series).to_pylist() == ["a", "", "3", "", "2.5", "True"]
    assert text_array(pd.Series(["x", None], dtype=object)).to_pylist() == ["x", ""]
    assert text_array(pd.Series(["x", "y"]).astype("string")).to_pylist() == ["x", "y"]


def test_joined_prompts_leave_blank_parts_out() -> None:
    first = ["q", " ", "", "q", "", "a"]
    second = ["c", "c", " ", "", "", "b"]
    third = ["", "d", "", "e", "", "c"]
    joined = join_prompts([pa.array(first), pa.array(second), pa.array(third)], "--").to_pylist()
    expected = [
        "--".join(part for part in parts if part.strip()) for parts in zip(first, second, third, strict=True)
    ]
    assert joined == expected


def same(table: pa.Table, conversations: list[Conversation]) -> None:
    assert table.equals(conversations_table(conversations))
    assert table_conversations(table) == conversations


FLAT_FRAMES = {
    "prompt-answer": (pd.DataFrame({"prompt": ["q1", "q2", "q3"], "answer": ["a1", "a2", "a3"]}), {}),
    "system-rejected": (
        pd.DataFrame(
            {
                "prompt": ["q1", "q2"],
                "chosen": ["a1", "a2"],
                "rejected": ["r1", "r2"],
                "system": ["be nice", None],
            }
        ),
        {},
    ),
    "alpaca": (
        pd.DataFrame({"instruction": ["do", "do it"], "input": ["", "now"], "output": ["done", "ok"]}),
        {},
    ),
    "ids": (
        pd.DataFrame({"id": ["x", "y"], "prompt": ["q1", "q2"], "answer": ["a1", "a2"]}),
        {"id_column": "id"},
    ),
    "numbers": (pd.DataFrame({"prompt": [1, 2], "answer": [3.5, 4.0]}), {}),
}


@pytest.mark.parametrize("name", list(FLAT_FRAMES))
def test_flat_tables_hold_the_conversations_of_to_conversations(name: str) -> None:
    df, overrides = FLAT_FRAMES[name]
    mapping = ColumnMapping.from_dict({**guess_mapping(df).to_dict(), **overrides})
    same(to_conversation_table(df, mapping, FILE), to_conversations(df, mapping, FILE))


def test_nested_and_chained_tables_go_through_conversations() -> None:
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    nested = pd.DataFrame({"messages": [turns, turns]})
    mapping = guess_mapping(nested)
    same(to_conversation_table(nested, mapping, FILE), to_conversations(nested, mapping, FILE))
    chained = pd.DataFrame(
        {"id": ["1", "2"], "parent_id": ["", "1"], "prompt": ["q1", "q2"], "answer": ["a1", "a2"]}
    )
    mapping = guess_mapping(chained)
    assert mapping.is_chained
    same(to_conversation_table(chained, mapping, FILE), to_conversations(chained, mapping, FILE))


def table_error(df: pd.DataFrame, mapping: ColumnMapping | None = None) -> str:
    with pytest.raises(DataError) as caught:
        to_conversation_table(df, mapping or guess_mapping(df), FILE)
    with pytest.raises(DataError) as again:
        to_conversations(df, mapping or guess_mapping(df), FILE)
    assert str(caught.value) == str(again.value)
    return str(caught.value)


def test_bad_rows_name_the_first_row_and_field_and_count_the_others() -> None:
    df = pd.DataFrame({"prompt": ["q", "q", " ", "q", ""], "answer": ["a", "\u3000", "a", "", "a"]})
    message = table_error(df)
    assert "row 2" in message
    assert "'answer'" in message
    assert "answer is empty" in message
    assert "3 more rows" in message


def test_a_rejected_answer_must_not_be_blank() -> None:
    df = pd.DataFrame({"prompt": ["q", "q"], "answer": ["a", "b"], "rejected": ["r", " "]})
    message = table_error(df)
    assert "row 2" in message
    assert "rejected answer is empty" in message


def test_all_blank_prompt_columns_are_reported_together() -> None:
    mapping = ColumnMapping(DatasetFormat.PROMPT_ANSWER, prompt_columns=("p1", "p2"), answer_column="answer")
    df = pd.DataFrame({"p1": ["x", " "], "p2": ["", None], "answer": ["a", "b"]})
    assert "all prompt columns (p1, p2) are empty" in table_error(df, mapping)


def test_empty_table_is_refused() -> None:
    df = pd.DataFrame({"prompt": pd.Series([], dtype=str), "answer": pd.Series([], dtype=str)})
    assert "no data rows" in table_error(df)


def test_split_table_gives_the_parts_of_split_train_validation() -> None:
    rng = np.random.default_rng(0)
    trees = [f"t{int(t)}" for t in rng.integers(0, 60, size=300)]
    conversations = [
        Conversation(str(i), tree, "", (Message("user", "q"), Message("assistant", "a")), i + 1)
        for i, tree in enumerate(trees)
    ]
    table = conversations_table(conversations)
    for seed in (1, 1337):
        train, validation = split_train_validation(conversations, 0.2, seed)
        train_table, validation_table = split_table(table, 0.2, seed)
        assert table_conversations(train_table) == train
        assert table_conversations(validation_table) == validation


def test_tables_round_trip_through_parquet(tmp_path) -> None:
    df = pd.DataFrame({"prompt": ["q1", "q2"], "answer": ["a1", "a2"], "system": ["s", ""]})
    table = to_conversation_table(df, guess_mapping(df), FILE)
    write_table(table, tmp_path / "t.parquet")
    assert read_conversations(tmp_path / "t.parquet") == table_conversations(table)
    assert table_turns(table).tolist() == [1, 1]
