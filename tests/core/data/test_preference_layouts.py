"""The common public preference layouts are detected at import; bad pairs are refused naming the row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio_desktop.core.errors import DataError
from studio_desktop.jobs.dataset_import import read_conversations_from


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def test_flat_prompt_chosen_rejected(tmp_path: Path) -> None:
    rows = [{"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."}]
    _, mapping, conversations = read_conversations_from(write_jsonl(tmp_path / "flat.jsonl", rows), {})
    assert (mapping.answer_column, mapping.rejected_answer_column) == ("chosen", "rejected")
    assert conversations[0].answer == "Blue." and conversations[0].rejected_answer == "Green."


def test_llama_factory_conversations_with_chosen_and_rejected_objects(tmp_path: Path) -> None:
    rows = [
        {
            "conversations": [
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello."},
                {"from": "human", "value": "Sky colour?"},
            ],
            "chosen": {"from": "gpt", "value": "Blue."},
            "rejected": {"from": "gpt", "value": "Green."},
        }
        for _ in range(3)
    ]
    _, mapping, conversations = read_conversations_from(write_jsonl(tmp_path / "lf.jsonl", rows), {})
    assert (mapping.format.value, mapping.conversation_column, mapping.answer_column) == (
        "sharegpt",
        "conversations",
        "chosen",
    )
    conversation = conversations[0]
    assert [m.content for m in conversation.messages] == ["Hi", "Hello.", "Sky colour?", "Blue."]
    assert conversation.rejected_answer == "Green."


def test_chat_lists_sharing_a_prefix_hh_rlhf_style(tmp_path: Path) -> None:
    rows = [
        {
            "chosen": [user("Sky?"), assistant("Blue.")],
            "rejected": [user("Sky?"), assistant("Green.")],
        }
    ]
    _, mapping, conversations = read_conversations_from(write_jsonl(tmp_path / "hh.jsonl", rows), {})
    assert (mapping.format.value, mapping.conversation_column, mapping.answer_column) == (
        "messages",
        "chosen",
        None,
    )
    assert conversations[0].answer == "Blue." and conversations[0].rejected_answer == "Green."


def test_content_part_message_lists(tmp_path: Path) -> None:
    parts = [{"type": "text", "text": "Blue"}, {"type": "text", "text": "."}]
    rows = [
        {
            "chosen": [user("Sky?"), {"role": "assistant", "content": parts}],
            "rejected": [user("Sky?"), {"role": "assistant", "content": [{"type": "text", "text": "Red."}]}],
        }
    ]
    _, _, conversations = read_conversations_from(write_jsonl(tmp_path / "parts.jsonl", rows), {})
    assert conversations[0].answer == "Blue." and conversations[0].rejected_answer == "Red."


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [
                {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."},
                {"prompt": "Sea?", "chosen": "Blue."},
            ],
            "row 2",  # the second row has no rejected answer (a missing key in JSONL)
        ),
        ([{"prompt": "Sky?", "chosen": "Blue.", "rejected": " Blue. "}], "the same as the chosen one"),
        (
            [{"chosen": [user("Sky?"), assistant("Blue.")], "rejected": [user("Sea?"), assistant("Green.")]}],
            "must share its prompt",
        ),
        (
            [{"chosen": [user("Sky?"), assistant("Blue.")], "rejected": [user("Sky?"), assistant("Blue.")]}],
            "the same as the chosen one",
        ),
    ],
)
def test_bad_pairs_are_refused_naming_file_row_and_field(
    tmp_path: Path, rows: list[dict], message: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as error:
        read_conversations_from(path, {})
    text = str(error.value)
    assert message in text and "bad.jsonl" in text and "row" in text and "rejected" in text


def test_a_nested_value_in_a_text_column_is_refused(tmp_path: Path) -> None:
    rows = [{"conversations": [{"from": "human", "value": "Hi"}], "answer": "Hello."}]
    path = write_jsonl(tmp_path / "nested.jsonl", rows)
    overrides = {"format": "prompt_answer", "prompt_columns": ["conversations"], "answer_column": "answer"}
    with pytest.raises(DataError, match="holds a list, not text") as error:
        read_conversations_from(path, overrides)
    assert "row 1" in str(error.value) and "conversations" in str(error.value)


@pytest.mark.parametrize("column", ["kto_tag", "label", "desirable"])
def test_a_desirability_column_is_detected_and_read(tmp_path: Path, column: str) -> None:
    rows = [
        {"prompt": "Sky?", "answer": "Blue.", column: True},
        {"prompt": "Sky?", "answer": "Green.", column: "false"},
        {"prompt": "Sea?", "answer": "Wet.", column: 1},
    ]
    _, mapping, conversations = read_conversations_from(write_jsonl(tmp_path / "rated.jsonl", rows), {})
    assert mapping.desirability_column == column
    assert [c.desirable for c in conversations] == [True, False, True]


def test_a_label_column_of_classes_is_not_taken_for_desirability(tmp_path: Path) -> None:
    rows = [{"prompt": "Sky?", "answer": "Blue.", "label": "colour"}]
    _, mapping, conversations = read_conversations_from(write_jsonl(tmp_path / "classes.jsonl", rows), {})
    assert mapping.desirability_column is None and conversations[0].desirable is None


def test_a_bad_desirability_value_names_file_row_and_column(tmp_path: Path) -> None:
    rows = [{"prompt": "Sky?", "answer": "Blue.", "kto_tag": "true"}, {"prompt": "Sea?", "answer": "Wet."}]
    path = write_jsonl(tmp_path / "rated.jsonl", rows)
    with pytest.raises(DataError, match="desirability") as error:
        read_conversations_from(path, {"desirability_column": "kto_tag"})
    assert "row 2" in str(error.value) and "kto_tag" in str(error.value)
