"""Labels and values read from answers: H2O's checks, each naming the file, row, column and value."""

from __future__ import annotations

import pytest

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.targets import DataSource, HeadTask, check_targets, parse_targets
from studio_desktop.core.errors import DataError

SOURCE = DataSource("tags.csv (dataset 'tags')", ("toxic", "spam"))
MULTILABEL = HeadTask(regression=False, loss="BinaryCrossEntropyLoss", outputs=2)


def rows(*answers: str, turns: int = 1) -> list[Conversation]:
    messages = tuple(Message(role, f"{role} {i}") for i in range(turns) for role in ("user", "assistant"))
    return [
        Conversation(str(i), str(i), "", (*messages[:-1], Message("assistant", answer)), source_row=i + 1)
        for i, answer in enumerate(answers)
    ]


def test_several_answer_columns_are_several_numbers_per_row() -> None:
    conversations = rows("1,0", "0, 1", "1,1")
    values = parse_targets(conversations, SOURCE)
    assert values.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    assert check_targets(values, conversations, MULTILABEL, SOURCE) == []


def test_a_label_that_is_not_0_or_1_names_its_column() -> None:
    conversations = rows("1,0", "0,3")
    with pytest.raises(DataError) as raised:
        check_targets(parse_targets(conversations, SOURCE), conversations, MULTILABEL, SOURCE)
    message = str(raised.value)
    assert message.startswith("tags.csv (dataset 'tags') (row 2, field 'spam'): label 3 is neither 0 nor 1")


def test_rows_with_different_counts_and_multi_turn_rows_are_refused() -> None:
    with pytest.raises(DataError, match=r"row 2.*holds 1 value\(s\) where the rows before hold 2"):
        parse_targets(rows("1,0", "1"), SOURCE)
    with pytest.raises(DataError, match=r"row 1\).*multi-turn conversation"):
        parse_targets(rows("1", turns=2), SOURCE)


def test_label_columns_must_match_the_number_of_classes() -> None:
    conversations = rows("1", "0")
    values = parse_targets(conversations, SOURCE)
    with pytest.raises(DataError, match=r"dataset\.num_classes = 2: multilabel data needs"):
        check_targets(values, conversations, MULTILABEL, SOURCE)
    multiclass = HeadTask(regression=False, loss="CrossEntropyLoss", outputs=3)
    with pytest.raises(DataError, match="CrossEntropyLoss takes a single label column"):
        check_targets(parse_targets(rows("1,0"), SOURCE), rows("1,0"), multiclass, SOURCE)
