"""Multi-turn conversations from id/parent_id chains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio_desktop.core.data.chains import build_chain_conversations, normalise_id
from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.formats import ColumnMapping, DatasetFormat, to_conversations
from studio_desktop.core.errors import DataError

FILE = "chat.parquet"
MAPPING = ColumnMapping(
    DatasetFormat.PROMPT_ANSWER,
    prompt_columns=("prompt",),
    answer_column="answer",
    system_column="system",
    id_column="id",
    parent_id_column="parent_id",
)


def table(ids: list[object], parents: list[object], systems: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ids,
            "parent_id": parents,
            "prompt": [f"q{i}" for i in ids],
            "answer": [f"a{i}" for i in ids],
            "system": systems or [""] * len(ids),
        }
    )


def convert(df: pd.DataFrame, mapping: ColumnMapping = MAPPING) -> list[Conversation]:
    return to_conversations(df, mapping, FILE)


def chain_error(df: pd.DataFrame, mapping: ColumnMapping = MAPPING) -> DataError:
    with pytest.raises(DataError) as caught:
        convert(df, mapping)
    assert FILE in str(caught.value)
    return caught.value


def contents(conversation: Conversation) -> list[str]:
    return [m.content for m in conversation.messages]


def test_linear_chain_is_one_conversation_from_root_to_leaf() -> None:
    df = table(["r", "m", "l"], ["", "r", "m"], systems=["root system", "ignored", "ignored too"])
    [conversation] = convert(df)
    assert contents(conversation) == ["qr", "ar", "qm", "am", "ql", "al"]
    assert [m.role for m in conversation.messages] == ["user", "assistant"] * 3
    assert conversation.system == "root system"
    assert (conversation.conversation_id, conversation.tree_id) == ("l", "r")
    assert conversation.source_row == 3


def test_child_rows_may_come_before_their_parents() -> None:
    df = table(["l", "m", "r"], ["m", "r", None])
    [conversation] = convert(df)
    assert contents(conversation) == ["qr", "ar", "qm", "am", "ql", "al"]
    assert conversation.source_row == 1


def test_branching_tree_yields_one_conversation_per_leaf() -> None:
    df = table(["r", "x", "y", "y1", "s"], ["", "r", "r", "y", ""])
    conversations = convert(df)
    assert [c.conversation_id for c in conversations] == ["x", "y1", "s"]
    assert [c.tree_id for c in conversations] == ["r", "r", "s"]
    assert contents(conversations[0]) == ["qr", "ar", "qx", "ax"]
    assert contents(conversations[1]) == ["qr", "ar", "qy", "ay", "qy1", "ay1"]
    assert contents(conversations[2]) == ["qs", "as"]
    assert [c.source_row for c in conversations] == [2, 4, 5]


def test_parent_naming_no_row_makes_a_root() -> None:
    df = table(["a", "b"], ["missing", "a"])
    [conversation] = convert(df)
    assert conversation.tree_id == "a"
    assert contents(conversation) == ["qa", "aa", "qb", "ab"]


def test_numeric_ids_with_nan_parents() -> None:
    df = table([1, 2, 3, 4], [np.nan, 1.0, 2.0, np.nan])
    assert df["parent_id"].dtype == np.float64
    conversations = convert(df)
    assert [(c.conversation_id, c.tree_id, c.turns) for c in conversations] == [("3", "1", 3), ("4", "4", 1)]


def test_none_and_empty_parents_are_roots() -> None:
    df = table(["a", "b", "c"], [None, "", "  "])
    assert [c.tree_id for c in convert(df)] == ["a", "b", "c"]


def test_rejected_answer_comes_from_the_leaf() -> None:
    df = table(["r", "l"], ["", "r"])
    df["rejected"] = ["bad root", "bad leaf"]
    mapping = ColumnMapping.from_dict({**MAPPING.to_dict(), "rejected_answer_column": "rejected"})
    [conversation] = convert(df, mapping)
    assert conversation.answer == "al"
    assert conversation.rejected_answer == "bad leaf"


def test_duplicate_id_names_both_rows() -> None:
    error = chain_error(table(["a", "b", "a"], ["", "a", ""]))
    assert (error.row, error.field) == (3, "id")
    assert "'a' is also used by row 1" in str(error)


def test_empty_id_is_refused() -> None:
    error = chain_error(table(["a", None], ["", "a"]))
    assert (error.row, error.field) == (2, "id")
    assert "id is empty" in str(error)


def test_self_reference_names_the_row() -> None:
    error = chain_error(table(["a", "b"], ["", "b"]))
    assert (error.row, error.field) == (2, "parent_id")
    assert "names itself ('b') as its parent" in str(error)


def test_two_cycle_names_its_rows() -> None:
    error = chain_error(table(["r", "a", "b"], ["", "b", "a"]))
    assert error.field == "parent_id"
    assert error.row == 2
    assert "rows 2, 3 form a cycle" in str(error)
    assert "'a' → 'b' → 'a'" in str(error)


def test_three_cycle_reached_from_a_tail_names_only_the_cycle() -> None:
    df = table(["tail", "x", "y", "z"], ["y", "z", "x", "y"])
    error = chain_error(df)
    assert "rows 2, 4, 3 form a cycle" in str(error)
    assert "'x' → 'z' → 'y' → 'x'" in str(error)
    assert error.row == 2


def test_id_column_equal_to_parent_column_is_refused() -> None:
    mapping = ColumnMapping.from_dict({**MAPPING.to_dict(), "parent_id_column": "id"})
    error = chain_error(table(["a"], [""]), mapping)
    assert "must be different" in str(error)
    with pytest.raises(DataError, match="must be different"):
        build_chain_conversations(
            ["a"],
            ["a"],
            prompts=["q"],
            answers=["a"],
            systems=[""],
            file=FILE,
            id_column="id",
            parent_id_column="id",
        )


def test_build_chain_conversations_directly() -> None:
    conversations = build_chain_conversations(
        [10, 11, 12],
        [None, 10, 10],
        prompts=["p0", "p1", "p2"],
        answers=["a0", "a1", "a2"],
        systems=["sys", "", ""],
        rejected=["r0", "r1", "r2"],
        file=FILE,
        id_column="id",
        parent_id_column="parent",
    )
    assert [(c.conversation_id, c.tree_id, c.system, c.rejected_answer) for c in conversations] == [
        ("11", "10", "sys", "r1"),
        ("12", "10", "sys", "r2"),
    ]
    assert contents(conversations[1]) == ["p0", "a0", "p2", "a2"]


def test_empty_answer_in_a_chain_names_the_row() -> None:
    df = table(["a", "b"], ["", "a"])
    df.loc[1, "answer"] = ""
    error = chain_error(df)
    assert (error.row, error.field) == (2, "answer")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (np.nan, None),
        (float("nan"), None),
        (pd.NA, None),
        ("", None),
        ("  ", None),
        ("nan", None),
        (" a ", "a"),
        (3, "3"),
        (3.0, "3"),
        (np.float32(4.0), "4"),
        (np.int64(5), "5"),
        (2.5, "2.5"),
    ],
)
def test_normalise_id(value: object, expected: str | None) -> None:
    assert normalise_id(value) == expected


def test_long_chain_and_many_trees_in_linear_time() -> None:
    n = 100_000
    deep = table(list(range(n)), [np.nan, *range(n - 1)])
    [conversation] = convert(deep)
    assert conversation.turns == n
    assert (conversation.tree_id, conversation.conversation_id) == ("0", str(n - 1))
    wide = table(list(range(n)), [None if i % 10 == 0 else i - 1 for i in range(n)])
    conversations = convert(wide)
    assert len(conversations) == n // 10
    assert all(c.turns == 10 for c in conversations)
