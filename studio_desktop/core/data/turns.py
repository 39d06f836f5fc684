"""Nested conversation cells: ShareGPT ``conversations`` and OpenAI ``messages`` lists of turns.

Also holds the cell helpers and the row problem bookkeeping that flat and nested parsing share.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.errors import DataError


class DatasetFormat(str, Enum):
    """How the columns of a dataset hold its conversations."""

    ALPACA = "alpaca"
    SHAREGPT = "sharegpt"
    MESSAGES = "messages"
    PROMPT_ANSWER = "prompt_answer"


ROLE_NAMES: dict[DatasetFormat, dict[str, str]] = {
    DatasetFormat.SHAREGPT: {
        "system": "system",
        **dict.fromkeys(("human", "user"), "user"),
        **dict.fromkeys(("gpt", "assistant", "chatgpt", "bing", "bard", "model"), "assistant"),
    },
    DatasetFormat.MESSAGES: {
        "system": "system",
        "developer": "system",
        "user": "user",
        "assistant": "assistant",
    },
}
TURN_KEYS: dict[DatasetFormat, tuple[str, str]] = {
    DatasetFormat.SHAREGPT: ("from", "value"),
    DatasetFormat.MESSAGES: ("role", "content"),
}


class RowError(Exception):
    """What is wrong with one row, and the column it is in."""

    def __init__(self, reason: str, field: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class RowProblems:
    """Keeps the first bad row and counts the others, so one error reports how much is wrong."""

    def __init__(self, file: str | Path) -> None:
        self.file = file
        self.first: tuple[int, RowError] | None = None
        self.count = 0

    def add(self, row: int, problem: RowError) -> None:
        self.count += 1
        if self.first is None:
            self.first = (row, problem)

    def raise_if_any(self) -> None:
        if self.first is None:
            return
        row, problem = self.first
        reason = problem.reason
        if self.count > 1:
            others = self.count - 1
            reason += f" ({others} more row{'s' if others > 1 else ''} with problems after this one)"
        raise DataError(reason, file=self.file, row=row, field=problem.field)


def is_list_like(value: object) -> bool:
    """Whether a cell holds a list (a list, a tuple or a one-dimensional array)."""
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)


def is_empty(value: object) -> bool:
    """Whether a cell is missing or blank text; lists and objects never count as empty."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_text(value: object) -> str:
    """A cell as text; a missing cell is the empty string."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if is_empty(value):
        return ""
    return str(value)


def first_turn(cells: list[Any]) -> Mapping[str, Any] | None:
    """The first turn of the first non-empty cell if it holds a list of turns (``{}`` for an empty list)."""
    for cell in cells:
        if is_empty(cell):
            continue
        value = cell
        if isinstance(cell, str):
            try:
                value = json.loads(cell)
            except ValueError:
                return None
        if not is_list_like(value):
            return None
        turns = list(value)
        if not turns:
            return {}
        return turns[0] if isinstance(turns[0], Mapping) else None
    return None


def nested_conversations(
    cells: Sequence[object],
    fmt: DatasetFormat,
    column: str,
    *,
    ids: Sequence[str],
    systems: Sequence[str] | None,
    rejected_cells: Sequence[object] | None,
    rejected_column: str | None,
    file: str | Path,
    answer_cells: Sequence[object] | None = None,
    answer_column: str | None = None,
    desirable: Sequence[bool] | None = None,
) -> list[Conversation]:
    """One conversation per cell; raises ``DataError`` naming the first bad row and counting the others.

    A system turn in the cell wins over ``systems``. ``answer_cells`` (LLaMA-Factory's ``chosen``) hold the
    final answer of conversations that end with the user's turn. ``rejected_cells`` hold text, one turn
    object, or a whole conversation that shares the chosen one's prompt (HH-RLHF/UltraFeedback style).
    """
    problems = RowProblems(file)
    conversations: list[Conversation] = []
    for i, cell in enumerate(cells):
        try:
            if answer_cells is None:
                system, messages = parse_turns(cell, fmt, column)
            else:
                system, prompt = parse_prompt_turns(cell, fmt, column)
                answer = Message("assistant", answer_text(answer_cells[i], fmt, answer_column))
                messages = (*prompt, answer)
            rejected = None
            if rejected_cells is not None:
                rejected = _rejected_answer(rejected_cells[i], fmt, rejected_column, messages)
        except RowError as problem:
            problems.add(i + 1, problem)
            continue
        if not system and systems is not None:
            system = systems[i]
        rating = desirable[i] if desirable is not None else None
        conversations.append(Conversation(ids[i], ids[i], system, messages, i + 1, rejected, rating))
    problems.raise_if_any()
    return conversations


def parse_prompt_turns(cell: object, fmt: DatasetFormat, column: str) -> tuple[str, tuple[Message, ...]]:
    """The system prompt and the turns of a conversation that ends with the user's turn (its answer is
    in another column)."""
    system, numbered = _alternating_turns(cell, fmt, column)
    if not numbered or numbered[-1][1].role != "user":
        raise RowError(
            "the conversation must end with the user's turn when the answer is in its own column; "
            "clear the answer column or remove the final assistant turn",
            column,
        )
    _check_filled(numbered, column)
    return system, tuple(message for _, message in numbered)


def answer_text(cell: object, fmt: DatasetFormat, column: str | None, what: str = "answer") -> str:
    """A final answer: text, one assistant turn object, or the last assistant turn of a list of turns."""
    if isinstance(cell, Mapping):
        role, content = _read_turn(cell, 1, fmt, column or "")
        if role != "assistant":
            raise RowError(f"holds a {role} turn where an assistant answer is expected", column)
        text = content
    elif is_list_like(cell):
        text = parse_turns(cell, fmt, column or "")[1][-1].content
    else:
        text = to_text(cell)
    if not text.strip():
        raise RowError(f"the {what} is empty; fill it in or remove the row", column)
    return text


NumberedTurns = list[tuple[int, Message]]


def _alternating_turns(cell: object, fmt: DatasetFormat, column: str) -> tuple[str, NumberedTurns]:
    """The system prompt and the numbered user/assistant turns, checked to start with the user and
    alternate."""
    system = ""
    numbered: NumberedTurns = []
    for number, turn in enumerate(_turn_list(cell, column), start=1):
        role, content = _read_turn(turn, number, fmt, column)
        if role == "system":
            if number > 1:
                raise RowError(f"turn {number} is a system message; only the first turn may be one", column)
            system = content
            continue
        if not numbered and role == "assistant":
            raise RowError(
                f"the conversation starts with an assistant turn (turn {number}); "
                "it must start with a user turn",
                column,
            )
        if numbered and numbered[-1][1].role == role:
            raise RowError(
                f"turns {number - 1} and {number} are both {role} turns; user and assistant turns must "
                "alternate: merge them or remove one",
                column,
            )
        numbered.append((number, Message(role, content)))
    return system, numbered


def _check_filled(numbered: NumberedTurns, column: str) -> None:
    for number, message in numbered:
        if not message.content.strip():
            raise RowError(f"turn {number} ({message.role}) is empty; fill it in or remove the row", column)


def parse_turns(cell: object, fmt: DatasetFormat, column: str) -> tuple[str, tuple[Message, ...]]:
    """The system prompt and the user/assistant turns up to the last assistant turn."""
    system, numbered = _alternating_turns(cell, fmt, column)
    while numbered and numbered[-1][1].role == "user":
        numbered.pop()
    if not numbered:
        raise RowError("the conversation has no assistant turn; add the answer as an assistant turn", column)
    _check_filled(numbered, column)
    return system, tuple(message for _, message in numbered)


def _turn_list(cell: object, column: str) -> list[Any]:
    if is_empty(cell):
        raise RowError("the conversation is empty; give a list of turns or remove the row", column)
    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except ValueError:
            raise RowError(
                "holds plain text, not a list of turns; choose a prompt/answer format for flat columns",
                column,
            ) from None
    if not is_list_like(cell):
        raise RowError(f"holds a {type(cell).__name__}, not a list of turns", column)
    turns = list(cell)
    if not turns:
        raise RowError("the conversation has no turns; remove the row", column)
    return turns


def _read_turn(turn: object, number: int, fmt: DatasetFormat, column: str) -> tuple[str, str]:
    role_key, content_key = TURN_KEYS[fmt]
    if not isinstance(turn, Mapping):
        raise RowError(
            f"turn {number} is a {type(turn).__name__}, "
            f"not an object with '{role_key}' and '{content_key}' keys",
            column,
        )
    for key in (role_key, content_key):
        if key not in turn:
            raise RowError(f"turn {number} has no '{key}' key{_format_hint(turn, fmt)}", column)
    roles = ROLE_NAMES[fmt]
    raw_role = turn[role_key]
    role = roles.get(str(raw_role).strip().lower())
    if role is None:
        raise RowError(
            f"turn {number} has the unknown {role_key} '{raw_role}'; accepted: {', '.join(roles)}", column
        )
    return role, _content_text(turn[content_key], number, column)


def _format_hint(turn: Mapping[str, Any], fmt: DatasetFormat) -> str:
    for other, (role_key, content_key) in TURN_KEYS.items():
        if other != fmt and role_key in turn and content_key in turn:
            keys = f"'{role_key}'/'{content_key}'"
            return f" (its {keys} keys belong to the {other.value} format: choose that one)"
    return ""


def _content_text(content: object, number: int, column: str) -> str:
    """Text content; a list of content parts (OpenAI style) is joined from its text parts."""
    if not is_list_like(content):
        return to_text(content)
    texts = []
    for part in content:
        if isinstance(part, Mapping) and part.get("type", "text") == "text":
            texts.append(to_text(part.get("text")))
        elif isinstance(part, str):
            texts.append(part)
        else:
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise RowError(f"turn {number} has a '{kind}' content part; only text is supported", column)
    return "".join(texts)


def _rejected_answer(
    cell: object, fmt: DatasetFormat, column: str | None, chosen: tuple[Message, ...]
) -> str:
    """The rejected answer of a preference pair whose chosen conversation is ``chosen``: text, one turn
    object, or a whole conversation that must share the chosen one's prompt."""
    if is_list_like(cell):
        rejected = parse_turns(cell, fmt, column or "")[1]
        if rejected[:-1] != chosen[:-1]:
            raise RowError(
                "the rejected conversation differs from the chosen one before the final answer; a "
                "preference pair must share its prompt",
                column,
            )
        text = rejected[-1].content
    else:
        text = answer_text(cell, fmt, column, "rejected answer")
    if text.strip() == chosen[-1].content.strip():
        raise RowError("the rejected answer is the same as the chosen one; fix or remove the row", column)
    return text
