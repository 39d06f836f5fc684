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


REJECTED_PROMPT_ROWS = [
    {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green.", "rejected_prompt": "Grass?"},
    {"prompt": "Sun?", "chosen": "Yellow.", "rejected": "Grey.", "rejected_prompt": "  "},
    {"prompt": "Snow?", "chosen": "White.", "rejected": "Black.", "rejected_prompt": "Snow?"},
]
REJECTED_PROMPT_MAPPING = {"rejected_prompt_column": "rejected_prompt"}


def test_a_rejected_prompt_column_gives_the_rejected_side_its_own_question(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", REJECTED_PROMPT_ROWS)
    _, _, conversations = read_conversations_from(path, REJECTED_PROMPT_MAPPING)
    # A blank cell or one that repeats the prompt means the rejected answer follows the same prompt.
    assert [c.rejected_prompt for c in conversations] == ["Grass?", None, None]
    first = conversations[0]
    assert [m.content for m in first.rejected_messages] == ["Grass?"]
    assert [m.content for m in first.prompt_messages] == ["Sky?"]


def test_the_column_wise_import_stores_the_rejected_prompts(tmp_path: Path) -> None:
    from studio_desktop.core.data.store import read_conversations, write_table
    from studio_desktop.jobs.dataset_import import read_table_from

    path = write_jsonl(tmp_path / "pairs.jsonl", REJECTED_PROMPT_ROWS)
    _, _, table = read_table_from(path, REJECTED_PROMPT_MAPPING)
    write_table(table, tmp_path / "train.parquet")
    stored = read_conversations(tmp_path / "train.parquet")
    assert stored == read_conversations_from(path, REJECTED_PROMPT_MAPPING)[2]


def test_a_file_stored_before_rejected_prompts_reads_without_them(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from studio_desktop.core.data.store import read_conversations, write_table
    from studio_desktop.jobs.dataset_import import read_table_from

    path = write_jsonl(tmp_path / "pairs.jsonl", REJECTED_PROMPT_ROWS)
    table = read_table_from(path, {})[2].drop_columns(["rejected_prompt"])
    write_table(table, tmp_path / "old.parquet")
    assert "rejected_prompt" not in pq.read_schema(tmp_path / "old.parquet").names
    stored = read_conversations(tmp_path / "old.parquet")
    assert [c.rejected_answer for c in stored] == ["Green.", "Grey.", "Black."]
    assert all(c.rejected_prompt is None for c in stored)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rejected_answer_column": ""}, "needs a rejected answer column"),
        ({"format": "messages", "conversation_column": "chosen"}, "not with the messages format"),
    ],
)
def test_a_rejected_prompt_column_without_its_pair_is_refused(
    tmp_path: Path, overrides: dict, message: str
) -> None:
    rows = [
        {**row, "chosen": [user(row["prompt"]), assistant(row["chosen"])]} for row in REJECTED_PROMPT_ROWS
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows if "format" in overrides else REJECTED_PROMPT_ROWS)
    with pytest.raises(DataError, match=message) as error:
        read_conversations_from(path, {**REJECTED_PROMPT_MAPPING, **overrides})
    assert "pairs.jsonl" in str(error.value) and "rejected_prompt" in str(error.value)


def test_a_chain_takes_the_rejected_prompt_of_its_leaf_row(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "parent_id": "", "prompt": "Hi", "chosen": "Hello.", "rejected": "Go.", "alt": ""},
        {
            "id": "b",
            "parent_id": "a",
            "prompt": "Sky?",
            "chosen": "Blue.",
            "rejected": "Red.",
            "alt": "Fire?",
        },
    ]
    path = write_jsonl(tmp_path / "chain.jsonl", rows)
    _, _, conversations = read_conversations_from(path, {"rejected_prompt_column": "alt"})
    (leaf,) = conversations
    assert leaf.rejected_answer == "Red." and leaf.rejected_prompt == "Fire?"
    assert [m.content for m in leaf.rejected_messages] == ["Hi", "Hello.", "Fire?"]
