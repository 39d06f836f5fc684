"""Format detection, column mappings and conversion of every supported layout to conversations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.formats import (
    ColumnMapping,
    DatasetFormat,
    to_conversations,
    validate_mapping,
)
from studio_desktop.core.data.mapping_guess import guess_mapping
from studio_desktop.core.errors import ConfigError, DataError

FILE = "train.csv"


def roles(conversation: Conversation) -> list[str]:
    return [m.role for m in conversation.messages]


def contents(conversation: Conversation) -> list[str]:
    return [m.content for m in conversation.messages]


def convert(df: pd.DataFrame, mapping: ColumnMapping | None = None) -> list[Conversation]:
    return to_conversations(df, mapping or guess_mapping(df), FILE)


def conversion_error(df: pd.DataFrame, mapping: ColumnMapping | None = None) -> DataError:
    with pytest.raises(DataError) as caught:
        convert(df, mapping)
    return caught.value


def sharegpt(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"from": role, "value": text} for role, text in turns]


def openai(*turns: tuple[str, object]) -> list[dict[str, object]]:
    return [{"role": role, "content": text} for role, text in turns]


# --- guess_mapping ---


def test_guess_alpaca_with_input() -> None:
    df = pd.DataFrame({"instruction": ["a"], "input": ["b"], "output": ["c"]})
    mapping = guess_mapping(df)
    assert mapping.format is DatasetFormat.ALPACA
    assert mapping.prompt_columns == ("instruction", "input")
    assert mapping.answer_column == "output"
    assert mapping.system_column is None
    assert mapping.parent_id_column is None


def test_guess_alpaca_without_input() -> None:
    mapping = guess_mapping(pd.DataFrame({"instruction": ["a"], "output": ["c"]}))
    assert mapping.format is DatasetFormat.ALPACA
    assert mapping.prompt_columns == ("instruction",)


def test_guess_instruction_context_response_joins_context() -> None:
    df = pd.DataFrame({"instruction": ["a"], "context": ["b"], "response": ["c"], "category": ["x"]})
    mapping = guess_mapping(df)
    assert mapping.format is DatasetFormat.PROMPT_ANSWER
    assert mapping.prompt_columns == ("instruction", "context")
    assert mapping.answer_column == "response"


@pytest.mark.parametrize(
    ("columns", "prompt", "answer"),
    [
        (["prompt", "response"], "prompt", "response"),
        (["question", "answer"], "question", "answer"),
        (["query", "response"], "query", "response"),
        (["input", "output"], "input", "output"),
        (["text", "target"], "text", "target"),
        (["user", "assistant"], "user", "assistant"),
        (["prompt", "completion"], "prompt", "completion"),
        (["Prompt ", "Chosen_Response"], "Prompt ", "Chosen_Response"),
        (["notes", "QUESTION", "Answer"], "QUESTION", "Answer"),
        (["review", "score"], "review", "score"),
        (["sentence", "class"], "sentence", "class"),
    ],
)
def test_guess_prompt_answer_names(columns: list[str], prompt: str, answer: str) -> None:
    mapping = guess_mapping(pd.DataFrame({c: ["x"] for c in columns}))
    assert mapping.format is DatasetFormat.PROMPT_ANSWER
    assert mapping.prompt_columns == (prompt,)
    assert mapping.answer_column == answer


def test_a_0_1_label_is_the_answer_beside_a_text_alone_and_a_rating_beside_an_answer() -> None:
    labelled = guess_mapping(pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}))
    assert (labelled.answer_column, labelled.desirability_column) == ("label", None)
    rated = guess_mapping(pd.DataFrame({"prompt": ["a", "b"], "completion": ["c", "d"], "label": [0, 1]}))
    assert (rated.answer_column, rated.desirability_column) == ("completion", "label")


def test_guess_system_chain_and_rejected_columns() -> None:
    df = pd.DataFrame(
        {
            "ID": ["1"],
            "Parent_ID": [""],
            "System Prompt": ["s"],
            "prompt": ["p"],
            "chosen": ["c"],
            "rejected_response": ["r"],
        }
    )
    mapping = guess_mapping(df)
    assert mapping.system_column == "System Prompt"
    assert mapping.id_column == "ID"
    assert mapping.parent_id_column == "Parent_ID"
    assert mapping.rejected_answer_column == "rejected_response"
    assert mapping.answer_column == "chosen"


def test_guess_ignores_id_without_parent_column() -> None:
    mapping = guess_mapping(pd.DataFrame({"id": ["1"], "prompt": ["p"], "answer": ["a"]}))
    assert mapping.id_column is None
    assert mapping.parent_id_column is None


def test_guess_parent_column_named_parent() -> None:
    mapping = guess_mapping(pd.DataFrame({"id": ["1"], "parent": [""], "prompt": ["p"], "answer": ["a"]}))
    assert (mapping.id_column, mapping.parent_id_column) == ("id", "parent")


def test_guess_sharegpt() -> None:
    df = pd.DataFrame({"id": ["a"], "conversations": [sharegpt(("human", "hi"), ("gpt", "hello"))]})
    mapping = guess_mapping(df)
    assert mapping.format is DatasetFormat.SHAREGPT
    assert mapping.conversation_column == "conversations"


def test_guess_messages() -> None:
    df = pd.DataFrame({"messages": [openai(("user", "hi"), ("assistant", "hello"))]})
    mapping = guess_mapping(df)
    assert mapping.format is DatasetFormat.MESSAGES
    assert mapping.conversation_column == "messages"


def test_guess_role_content_turns_in_conversations_column_is_messages_format() -> None:
    df = pd.DataFrame({"conversations": [None, openai(("user", "hi"), ("assistant", "hello"))]})
    assert guess_mapping(df).format is DatasetFormat.MESSAGES


def test_guess_sharegpt_from_json_text_cells() -> None:
    cell = json.dumps(sharegpt(("human", "hi"), ("gpt", "hello")))
    mapping = guess_mapping(pd.DataFrame({"conversations": [cell]}))
    assert mapping.format is DatasetFormat.SHAREGPT


def test_guess_chosen_rejected_lists_are_messages_preference_data() -> None:
    df = pd.DataFrame(
        {
            "prompt": ["hi"],
            "chosen": [openai(("user", "hi"), ("assistant", "good"))],
            "rejected": [openai(("user", "hi"), ("assistant", "bad"))],
        }
    )
    mapping = guess_mapping(df)
    assert mapping.format is DatasetFormat.MESSAGES
    assert mapping.conversation_column == "chosen"
    assert mapping.rejected_answer_column == "rejected"
    [conversation] = convert(df, mapping)
    assert conversation.answer == "good"
    assert conversation.rejected_answer == "bad"


@pytest.mark.parametrize("answer", ["[not json", "[1, 2]", "42", '"quoted"'])
def test_guess_text_chosen_column_stays_flat(answer: str) -> None:
    df = pd.DataFrame({"prompt": ["p"], "chosen": [answer], "rejected": ["r"]})
    mapping = guess_mapping(df)
    assert mapping.format is DatasetFormat.PROMPT_ANSWER
    assert mapping.answer_column == "chosen"


def test_guess_fails_listing_columns_and_settings() -> None:
    df = pd.DataFrame({"foo": ["a"], "bar": ["b"]})
    with pytest.raises(DataError) as caught:
        guess_mapping(df, FILE)
    message = str(caught.value)
    assert FILE in message
    assert "'foo'" in message and "'bar'" in message
    assert "--prompt-column" in message and "--answer-column" in message


def test_guess_fails_naming_the_missing_answer_setting() -> None:
    with pytest.raises(DataError, match=r"found the prompt column 'text'.*--answer-column"):
        guess_mapping(pd.DataFrame({"text": ["a"]}))


def test_guess_fails_naming_the_missing_prompt_setting() -> None:
    with pytest.raises(DataError, match=r"found the answer column 'output'.*--prompt-column"):
        guess_mapping(pd.DataFrame({"output": ["a"]}))


# --- ColumnMapping ---


def test_mapping_round_trips_through_json() -> None:
    mapping = ColumnMapping(
        DatasetFormat.PROMPT_ANSWER,
        prompt_columns=("a", "b"),
        answer_column="c",
        system_column="s",
        id_column="id",
        parent_id_column="pid",
        rejected_answer_column="r",
        prompt_column_separator=" | ",
    )
    stored = json.loads(json.dumps(mapping.to_dict()))
    assert stored["format"] == "prompt_answer"
    assert stored["prompt_columns"] == ["a", "b"]
    assert ColumnMapping.from_dict(stored) == mapping


def test_mapping_from_dict_fills_defaults() -> None:
    mapping = ColumnMapping.from_dict({"format": "sharegpt", "conversation_column": "conversations"})
    assert mapping.format is DatasetFormat.SHAREGPT
    assert mapping.prompt_columns == ()
    assert mapping.prompt_column_separator == "\n\n"


def test_mapping_from_dict_refuses_unknown_key_and_format() -> None:
    with pytest.raises(ConfigError, match="prompt_column"):
        ColumnMapping.from_dict({"format": "alpaca", "prompt_column": "x"})
    with pytest.raises(ConfigError, match=r"'chatml'.*alpaca, sharegpt, messages, prompt_answer"):
        ColumnMapping.from_dict({"format": "chatml"})
    with pytest.raises(ConfigError, match="format"):
        ColumnMapping.from_dict({"prompt_columns": ["x"]})


def test_mapping_normalises_values() -> None:
    mapping = ColumnMapping("prompt_answer", prompt_columns="q", answer_column="a", system_column="")
    assert mapping.format is DatasetFormat.PROMPT_ANSWER
    assert mapping.prompt_columns == ("q",)
    assert mapping.system_column is None
    assert (
        ColumnMapping(DatasetFormat.SHAREGPT, prompt_columns=None, conversation_column="c").prompt_columns
        == ()
    )


# --- validate_mapping ---


def test_validate_names_missing_column_and_lists_available() -> None:
    df = pd.DataFrame({"q": ["a"], "a": ["b"]})
    mapping = ColumnMapping(DatasetFormat.PROMPT_ANSWER, prompt_columns=("q",), answer_column="reply")
    with pytest.raises(DataError) as caught:
        validate_mapping(df, mapping, FILE)
    error = caught.value
    assert error.field == "reply"
    assert "answer column 'reply'" in str(error)
    assert "'q', 'a'" in str(error)
    assert FILE in str(error)


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (ColumnMapping(DatasetFormat.PROMPT_ANSWER, answer_column="a"), "--prompt-column"),
        (ColumnMapping(DatasetFormat.ALPACA, prompt_columns=("q",)), "--answer-column"),
        (ColumnMapping(DatasetFormat.SHAREGPT), "conversation column"),
        (
            ColumnMapping(
                DatasetFormat.PROMPT_ANSWER, prompt_columns=("q",), answer_column="a", parent_id_column="a"
            ),
            "--id-column",
        ),
        (
            ColumnMapping(
                DatasetFormat.PROMPT_ANSWER,
                prompt_columns=("q",),
                answer_column="a",
                id_column="id",
                parent_id_column="id",
            ),
            "must be different",
        ),
        (
            ColumnMapping(
                DatasetFormat.MESSAGES, conversation_column="q", id_column="id", parent_id_column="a"
            ),
            "only with prompt and answer columns",
        ),
        (
            ColumnMapping(DatasetFormat.PROMPT_ANSWER, prompt_columns=("q", "x"), answer_column="a"),
            "prompt column 'x'",
        ),
        (
            ColumnMapping(
                DatasetFormat.PROMPT_ANSWER, prompt_columns=("q",), answer_column="a", system_column="s"
            ),
            "system column 's'",
        ),
    ],
)
def test_validate_refuses_incomplete_or_wrong_mappings(mapping: ColumnMapping, expected: str) -> None:
    df = pd.DataFrame({"id": ["1"], "q": ["a"], "a": ["b"]})
    with pytest.raises(DataError, match=expected):
        validate_mapping(df, mapping, FILE)


def test_validate_accepts_complete_mapping() -> None:
    df = pd.DataFrame({"id": ["1"], "pid": [""], "q": ["a"], "a": ["b"]})
    mapping = ColumnMapping(
        DatasetFormat.PROMPT_ANSWER,
        prompt_columns=("q",),
        answer_column="a",
        id_column="id",
        parent_id_column="pid",
    )
    validate_mapping(df, mapping, FILE)


# --- flat formats ---


def test_alpaca_rows_become_single_turn_conversations() -> None:
    df = pd.DataFrame(
        {
            "instruction": ["Translate", "Sum"],
            "input": ["Hallo", ""],
            "output": ["Hello", "3"],
            "system": ["Be brief.", np.nan],
        }
    )
    first, second = convert(df)
    assert roles(first) == ["user", "assistant"]
    assert contents(first) == ["Translate\n\nHallo", "Hello"]
    assert first.system == "Be brief."
    assert (first.conversation_id, first.tree_id, first.source_row) == ("1", "1", 1)
    assert contents(second) == ["Sum", "3"]
    assert second.system == ""
    assert (second.conversation_id, second.tree_id, second.source_row) == ("2", "2", 2)
    assert first.rejected_answer is None


def test_several_prompt_columns_join_with_separator_skipping_empty_parts() -> None:
    df = pd.DataFrame(
        {"a": ["one", "", None], "b": ["", "two", "x"], "c": ["three", "four", np.nan], "r": ["y"] * 3}
    )
    mapping = ColumnMapping(
        DatasetFormat.PROMPT_ANSWER,
        prompt_columns=("a", "b", "c"),
        answer_column="r",
        prompt_column_separator=" | ",
    )
    assert [c.messages[0].content for c in convert(df, mapping)] == ["one | three", "two | four", "x"]


def test_hand_set_mapping_overrides_the_guess() -> None:
    df = pd.DataFrame({"prompt": ["guessed"], "response": ["guessed"], "my_q": ["mine"], "my_a": ["reply"]})
    assert guess_mapping(df).prompt_columns == ("prompt",)
    mapping = ColumnMapping(DatasetFormat.PROMPT_ANSWER, prompt_columns=("my_q",), answer_column="my_a")
    [conversation] = convert(df, mapping)
    assert contents(conversation) == ["mine", "reply"]


def test_numbers_become_text() -> None:
    df = pd.DataFrame({"question": [12, 7], "answer": [3.5, 1]})
    assert [contents(c) for c in convert(df)] == [["12", "3.5"], ["7", "1.0"]]


def test_preference_rows_keep_the_rejected_answer() -> None:
    df = pd.DataFrame({"prompt": ["p"], "chosen": ["good"], "rejected": ["bad"]})
    [conversation] = convert(df)
    assert conversation.answer == "good"
    assert conversation.rejected_answer == "bad"


def test_id_column_gives_conversation_ids() -> None:
    df = pd.DataFrame({"key": [10, 20], "prompt": ["p", "q"], "answer": ["a", "b"]})
    mapping = ColumnMapping(
        DatasetFormat.PROMPT_ANSWER, prompt_columns=("prompt",), answer_column="answer", id_column="key"
    )
    assert [(c.conversation_id, c.tree_id) for c in convert(df, mapping)] == [("10", "10"), ("20", "20")]


def test_duplicate_conversation_ids_are_refused() -> None:
    df = pd.DataFrame({"key": ["a", "b", "a"], "prompt": ["p"] * 3, "answer": ["a"] * 3})
    mapping = ColumnMapping(
        DatasetFormat.PROMPT_ANSWER, prompt_columns=("prompt",), answer_column="answer", id_column="key"
    )
    error = conversion_error(df, mapping)
    assert (error.row, error.field) == (3, "key")
    assert "row 1" in error.reason


@pytest.mark.parametrize("empty", ["", "   ", None, np.nan])
def test_empty_answer_names_file_row_and_field(empty: object) -> None:
    df = pd.DataFrame({"prompt": ["p", "q"], "response": ["a", empty]})
    error = conversion_error(df)
    assert (error.file, error.row, error.field) == (FILE, 2, "response")
    message = str(error)
    assert FILE in message and "row 2" in message and "field 'response'" in message
    assert "answer is empty" in message


def test_empty_prompt_over_all_prompt_columns() -> None:
    df = pd.DataFrame({"instruction": ["x", ""], "input": ["y", None], "output": ["a", "b"]})
    error = conversion_error(df)
    assert (error.row, error.field) == (2, "instruction")
    assert "all prompt columns (instruction, input) are empty" in str(error)


def test_one_empty_prompt_column_is_fine() -> None:
    df = pd.DataFrame({"instruction": ["x"], "input": [None], "output": ["a"]})
    assert contents(convert(df)[0]) == ["x", "a"]


def test_empty_rejected_answer_is_refused() -> None:
    df = pd.DataFrame({"prompt": ["p"], "chosen": ["good"], "rejected": [""]})
    error = conversion_error(df)
    assert (error.row, error.field) == (1, "rejected")


def test_first_bad_row_is_reported_with_a_count_of_the_others() -> None:
    df = pd.DataFrame({"prompt": ["p", "", "q", "", ""], "answer": ["a", "b", "c", "d", ""]})
    error = conversion_error(df)
    assert error.row == 2
    assert "2 more rows with problems" in str(error)


def test_single_bad_row_has_no_count() -> None:
    error = conversion_error(pd.DataFrame({"prompt": ["p", ""], "answer": ["a", "b"]}))
    assert "more row" not in str(error)


def test_empty_table_is_refused() -> None:
    df = pd.DataFrame({"prompt": pd.Series([], dtype=str), "answer": pd.Series([], dtype=str)})
    mapping = ColumnMapping(DatasetFormat.PROMPT_ANSWER, prompt_columns=("prompt",), answer_column="answer")
    with pytest.raises(DataError, match="no data rows"):
        to_conversations(df, mapping, FILE)


# --- nested formats ---


def test_sharegpt_conversation_with_system_and_all_role_names() -> None:
    turns = sharegpt(
        ("system", "Be kind."),
        ("human", "q1"),
        ("gpt", "a1"),
        ("user", "q2"),
        ("ChatGPT", "a2"),
        ("human", "q3"),
        ("bing", "a3"),
        ("human", "q4"),
        ("bard", "a4"),
        ("human", "q5"),
        ("model", "a5"),
        ("human", "q6"),
        ("assistant", "a6"),
    )
    df = pd.DataFrame({"id": ["c1"], "conversations": [turns]})
    [conversation] = convert(df)
    assert conversation.system == "Be kind."
    assert roles(conversation) == ["user", "assistant"] * 6
    assert contents(conversation) == [f"{kind}{n}" for n in range(1, 7) for kind in ("q", "a")]
    assert (conversation.conversation_id, conversation.tree_id, conversation.source_row) == ("1", "1", 1)


def test_sharegpt_trailing_user_turn_is_dropped() -> None:
    df = pd.DataFrame({"conversations": [sharegpt(("human", "q"), ("gpt", "a"), ("human", "unanswered"))]})
    [conversation] = convert(df)
    assert contents(conversation) == ["q", "a"]
    assert conversation.answer == "a"


def test_sharegpt_system_column_used_when_no_system_turn() -> None:
    df = pd.DataFrame(
        {
            "system": ["from column", "from column"],
            "conversations": [
                sharegpt(("human", "q"), ("gpt", "a")),
                sharegpt(("system", "from turn"), ("human", "q"), ("gpt", "a")),
            ],
        }
    )
    assert [c.system for c in convert(df)] == ["from column", "from turn"]


def test_messages_format_with_developer_role_parts_and_hand_set_id() -> None:
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    df = pd.DataFrame(
        {
            "uid": ["x", "y"],
            "chat": [
                openai(("developer", "Rules."), ("user", parts), ("assistant", 42)),
                openai(("user", "q"), ("assistant", "a"), ("user", "q2"), ("assistant", "a2")),
            ],
        }
    )
    mapping = ColumnMapping(DatasetFormat.MESSAGES, conversation_column="chat", id_column="uid")
    first, second = convert(df, mapping)
    assert first.system == "Rules."
    assert contents(first) == ["Hello there", "42"]
    assert first.conversation_id == first.tree_id == "x"
    assert roles(second) == ["user", "assistant", "user", "assistant"]
    assert second.turns == 2
    assert second.source_row == 2


def test_messages_from_numpy_arrays_and_json_text() -> None:
    as_array = np.array(openai(("user", "q"), ("assistant", "a")), dtype=object)
    as_json = json.dumps(openai(("user", "q2"), ("assistant", "a2")))
    df = pd.DataFrame({"messages": [as_array, as_json]})
    first, second = convert(df, ColumnMapping(DatasetFormat.MESSAGES, conversation_column="messages"))
    assert first.messages == (Message("user", "q"), Message("assistant", "a"))
    assert second.messages == (Message("user", "q2"), Message("assistant", "a2"))


def test_nested_rejected_answer_from_text_or_turns() -> None:
    df = pd.DataFrame(
        {
            "messages": [openai(("user", "q"), ("assistant", "good"))] * 2,
            "rejected": ["bad text", openai(("user", "q"), ("assistant", "bad turn"))],
        }
    )
    mapping = ColumnMapping(
        DatasetFormat.MESSAGES, conversation_column="messages", rejected_answer_column="rejected"
    )
    assert [c.rejected_answer for c in convert(df, mapping)] == ["bad text", "bad turn"]


def nested_error(cell: object, fmt: DatasetFormat = DatasetFormat.SHAREGPT) -> DataError:
    good = (
        sharegpt(("human", "q"), ("gpt", "a"))
        if fmt is DatasetFormat.SHAREGPT
        else openai(("user", "q"), ("assistant", "a"))
    )
    df = pd.DataFrame({"turns": [good, cell]})
    error = conversion_error(df, ColumnMapping(fmt, conversation_column="turns"))
    assert (error.file, error.row, error.field) == (FILE, 2, "turns")
    assert "row 2" in str(error) and "field 'turns'" in str(error)
    return error


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ({"from": "human", "value": "q"}, "holds a dict, not a list of turns"),
        (5, "holds a int, not a list of turns"),
        ("hello there", "plain text"),
        (None, "conversation is empty"),
        (np.nan, "conversation is empty"),
        ([], "no turns"),
        (["q", "a"], "turn 1 is a str, not an object with 'from' and 'value' keys"),
        ([{"from": "human"}], "turn 1 has no 'value' key"),
        ([{"value": "q"}], "turn 1 has no 'from' key"),
        (
            sharegpt(("human", "q"), ("robot", "a")),
            "turn 2 has the unknown from 'robot'; accepted: system, human, user, gpt",
        ),
        (sharegpt(("human", "q")), "no assistant turn"),
        (sharegpt(("human", "q"), ("human", "q2"), ("gpt", "a")), "turns 1 and 2 are both user turns"),
        (sharegpt(("human", "q"), ("gpt", "a"), ("gpt", "a2")), "turns 2 and 3 are both assistant turns"),
        (sharegpt(("human", "q"), ("system", "s"), ("gpt", "a")), "turn 2 is a system message"),
        (
            sharegpt(("system", "s"), ("system", "t"), ("human", "q"), ("gpt", "a")),
            "turn 2 is a system message",
        ),
        (sharegpt(("gpt", "hi"), ("human", "q"), ("gpt", "a")), "starts with an assistant turn (turn 1)"),
        (sharegpt(("system", "s"), ("gpt", "a")), "starts with an assistant turn (turn 2)"),
        (sharegpt(("human", "q"), ("gpt", " ")), "turn 2 (assistant) is empty"),
        (sharegpt(("human", None), ("gpt", "a")), "turn 1 (user) is empty"),
    ],
)
def test_sharegpt_errors(cell: object, expected: str) -> None:
    assert expected in str(nested_error(cell))


def test_wrong_turn_keys_suggest_the_other_format() -> None:
    error = nested_error(openai(("user", "q"), ("assistant", "a")))
    assert "no 'from' key" in str(error)
    assert "messages format" in str(error)
    error = nested_error(sharegpt(("human", "q"), ("gpt", "a")), DatasetFormat.MESSAGES)
    assert "no 'role' key" in str(error) and "sharegpt format" in str(error)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            openai(("user", "q"), ("tool", "x")),
            "unknown role 'tool'; accepted: system, developer, user, assistant",
        ),
        (openai(("human", "q"), ("assistant", "a")), "unknown role 'human'"),
        (
            openai(("user", [{"type": "image_url", "image_url": "x"}]), ("assistant", "a")),
            "'image_url' content part",
        ),
    ],
)
def test_messages_errors(cell: object, expected: str) -> None:
    assert expected in str(nested_error(cell, DatasetFormat.MESSAGES))


def test_nested_errors_count_further_bad_rows() -> None:
    good = sharegpt(("human", "q"), ("gpt", "a"))
    df = pd.DataFrame({"conversations": [good, None, good, "x", []]})
    error = conversion_error(df)
    assert error.row == 2
    assert "2 more rows with problems" in str(error)


# --- speed ---


def test_hundred_thousand_flat_rows_convert() -> None:
    n = 100_000
    df = pd.DataFrame(
        {
            "instruction": [f"task {i}" for i in range(n)],
            "input": ["" if i % 2 else f"input {i}" for i in range(n)],
            "output": [f"answer {i}" for i in range(n)],
        }
    )
    conversations = to_conversations(df, guess_mapping(df), FILE)
    assert len(conversations) == n
    assert conversations[-1].source_row == n
    assert contents(conversations[-1]) == [f"task {n - 1}", f"answer {n - 1}"]


@pytest.mark.parametrize("layout", ["flat", "messages"])
def test_a_text_longer_than_any_sample_is_refused_naming_row_and_field(tmp_path, layout: str) -> None:
    import time

    from studio_desktop.core.data.flat import MAX_TEXT_CHARS
    from studio_desktop.jobs.dataset_import import read_table_from

    huge = "word " * (MAX_TEXT_CHARS // 5 + 1)
    rows = [{"prompt": "Hi", "answer": "Hello."}, {"prompt": "Long?", "answer": huge}]
    if layout == "messages":
        rows = [
            {
                "messages": [
                    {"role": "user", "content": r["prompt"]},
                    {"role": "assistant", "content": r["answer"]},
                ]
            }
            for r in rows
        ]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(DataError) as error:
        read_table_from(path, {})
    assert time.monotonic() - started < 10
    text = str(error.value)
    assert "big.jsonl" in text and "row 2" in text and ("answer" in text or "messages" in text)
    assert f"more than the {MAX_TEXT_CHARS:,}" in text and len(text) < 400
