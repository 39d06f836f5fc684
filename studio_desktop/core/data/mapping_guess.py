"""Guessing the column mapping of a table from its column names (and, for nested formats, its first cells)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pandas as pd

from studio_desktop.core.data.desirability import looks_rated
from studio_desktop.core.data.formats import ColumnMapping
from studio_desktop.core.data.turns import DatasetFormat, first_turn
from studio_desktop.core.errors import DataError

_PROMPT_NAMES = ("prompt", "question", "query", "instruction", "input", "user", "text", "sentence", "review")
_ANSWER_NAMES = (
    "answer",
    "response",
    "output",
    "completion",
    "chosen",
    "chosenresponse",
    "assistant",
    "target",
    # the label or value of classification and regression data
    "label",
    "labels",
    "class",
    "score",
)
_INSTRUCTION_EXTRA_NAMES = ("input", "context")
_SYSTEM_NAMES = ("system", "systemprompt")
_PARENT_NAMES = ("parentid", "parent")
_REJECTED_NAMES = ("rejected", "rejectedresponse")
_CHOSEN_NAMES = ("chosen", "chosenresponse")
_DESIRABILITY_NAMES = ("ktotag", "desirable", "desirability", "label")
_CONVERSATION_NAMES = ("conversations", "messages", "conversation", "chat", "chosen")
_SNIFF_ROWS = 50


def guess_mapping(df: pd.DataFrame, file: str | Path | None = None) -> ColumnMapping:
    """The most plausible mapping from the column names (and, for nested formats, the first cells)."""
    by_name: dict[str, str] = {}
    for column in df.columns:
        if isinstance(column, str):
            by_name.setdefault(_normalise_name(column), column)

    def pick(names: Sequence[str]) -> str | None:
        return next((by_name[name] for name in names if name in by_name), None)

    system = pick(_SYSTEM_NAMES)
    rejected = pick(_REJECTED_NAMES)
    rated = pick(_DESIRABILITY_NAMES)
    desirable = rated if rated is not None and rejected is None and looks_rated(df[rated]) else None
    nested = _guess_nested(df, by_name)
    if nested is not None:
        fmt, column = nested
        chosen = pick(_CHOSEN_NAMES)  # LLaMA-Factory: the prompt turns here, the chosen answer beside them
        return ColumnMapping(
            fmt,
            conversation_column=column,
            answer_column=chosen if chosen != column else None,
            system_column=system,
            rejected_answer_column=rejected,
            desirability_column=desirable,
        )
    prompt = pick(_PROMPT_NAMES)
    answer = pick([name for name in _ANSWER_NAMES if by_name.get(name) != desirable])
    if answer is None and desirable is not None:  # a 0/1 label beside a text alone: classification labels
        answer, desirable = desirable, None
    if prompt is None or answer is None:
        _raise_no_mapping(df, prompt, answer, file)
    prompt_columns: tuple[str, ...] = (prompt,)
    is_instruction = _normalise_name(prompt) == "instruction"
    if is_instruction:
        extra = pick(_INSTRUCTION_EXTRA_NAMES)
        if extra is not None and extra != answer:
            prompt_columns += (extra,)
    fmt = (
        DatasetFormat.ALPACA
        if is_instruction and _normalise_name(answer) == "output"
        else DatasetFormat.PROMPT_ANSWER
    )
    parent = pick(_PARENT_NAMES)
    id_column = by_name.get("id") if parent is not None else None
    return ColumnMapping(
        fmt,
        prompt_columns=prompt_columns,
        answer_column=answer,
        system_column=system,
        id_column=id_column,
        parent_id_column=parent if id_column is not None else None,
        rejected_answer_column=rejected,
        desirability_column=desirable if id_column is None else None,
    )


def _normalise_name(name: str) -> str:
    return name.strip().lower().replace(" ", "").replace("_", "").replace("-", "")


def _raise_no_mapping(
    df: pd.DataFrame, prompt: str | None, answer: str | None, file: str | Path | None
) -> NoReturn:
    found = ", ".join(f"'{column}'" for column in df.columns) or "none"
    if prompt is not None:
        hint = f"found the prompt column '{prompt}' but no answer column; pass --answer-column"
    elif answer is not None:
        hint = f"found the answer column '{answer}' but no prompt column; pass --prompt-column"
    else:
        hint = (
            "pass --prompt-column and --answer-column, or give a 'conversations' (sharegpt) or "
            "'messages' column holding a list of turns"
        )
    raise DataError(
        f"cannot tell which columns hold the prompt and the answer (columns found: {found}); {hint}",
        file=file,
    )


def _guess_nested(df: pd.DataFrame, by_name: dict[str, str]) -> tuple[DatasetFormat, str] | None:
    for name in _CONVERSATION_NAMES:
        column = by_name.get(name)
        if column is None:
            continue
        turn = first_turn(df[column].head(_SNIFF_ROWS).tolist())
        if turn is None:
            continue
        if "from" in turn or "value" in turn:
            return DatasetFormat.SHAREGPT, column
        if "role" in turn or "content" in turn:
            return DatasetFormat.MESSAGES, column
        return (DatasetFormat.SHAREGPT if name == "conversations" else DatasetFormat.MESSAGES), column
    return None
