"""Dataset formats and column mappings: every supported table layout becomes a list of ``Conversation``.

Flat formats (``alpaca``, ``prompt_answer``) hold one exchange per row, optionally chained into multi-turn
conversations by ``id``/``parent_id`` columns. Nested formats (``sharegpt``, ``messages``) hold a whole
conversation per row as a list of turns, parsed by ``turns``. Guessing a mapping from the column names is
``mapping_guess``'s.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from studio_desktop.core.data.chains import build_chain_conversations, index_unique_ids
from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.desirability import check_desirability_mapping, desirability_values
from studio_desktop.core.data.flat import MAX_TEXT_CHARS, flat_columns
from studio_desktop.core.data.store import conversations_table, flat_table
from studio_desktop.core.data.turns import (
    DatasetFormat,
    RowError,
    RowProblems,
    nested_conversations,
    to_text,
)
from studio_desktop.core.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pyarrow as pa

NESTED_FORMATS = frozenset({DatasetFormat.SHAREGPT, DatasetFormat.MESSAGES})


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a table hold which part of the conversations.

    Flat formats read ``prompt_columns`` (joined by ``prompt_column_separator``, empty parts skipped) and
    ``answer_column``, followed by ``extra_answer_columns`` where a row has several labels or targets
    (classification, regression: the answer is the cells joined by commas); ``id_column`` with
    ``parent_id_column`` chains rows into multi-turn conversations.
    Nested formats read ``conversation_column``; a system turn there wins over ``system_column``; with an
    ``answer_column`` the conversations end with the user's turn and that column holds the final answer.
    ``rejected_answer_column`` holds the rejected answer of preference data and ``rejected_prompt_column``,
    where the rejected answer was given to another question, that question; ``desirability_column`` rates
    the answer of unpaired preference data (KTO) as good or bad.
    """

    format: DatasetFormat
    prompt_columns: tuple[str, ...] = ()
    answer_column: str | None = None
    extra_answer_columns: tuple[str, ...] = ()
    system_column: str | None = None
    id_column: str | None = None
    parent_id_column: str | None = None
    rejected_answer_column: str | None = None
    rejected_prompt_column: str | None = None
    desirability_column: str | None = None
    conversation_column: str | None = None
    prompt_column_separator: str = "\n\n"

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", DatasetFormat(self.format))
        columns = self.prompt_columns or ()
        object.__setattr__(self, "prompt_columns", (columns,) if isinstance(columns, str) else tuple(columns))
        extra = self.extra_answer_columns or ()
        object.__setattr__(self, "extra_answer_columns", (extra,) if isinstance(extra, str) else tuple(extra))
        for name in _OPTIONAL_COLUMN_FIELDS:
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)

    @property
    def is_nested(self) -> bool:
        """Whether one cell holds a whole conversation."""
        return self.format in NESTED_FORMATS

    @property
    def is_chained(self) -> bool:
        """Whether rows are chained into multi-turn conversations by parent ids."""
        return self.parent_id_column is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["format"] = self.format.value
        data["prompt_columns"] = list(self.prompt_columns)
        data["extra_answer_columns"] = list(self.extra_answer_columns)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnMapping:
        """The mapping stored by ``to_dict``; refuses unknown keys and formats."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown column mapping setting(s): {', '.join(unknown)}")
        if "format" not in data:
            raise ConfigError("the column mapping has no 'format'")
        try:
            fmt = DatasetFormat(data["format"])
        except ValueError:
            accepted = ", ".join(f.value for f in DatasetFormat)
            raise ConfigError(f"unknown dataset format '{data['format']}'; accepted: {accepted}") from None
        return cls(**{**data, "format": fmt})


_OPTIONAL_COLUMN_FIELDS = tuple(f.name for f in fields(ColumnMapping) if f.name.endswith("_column"))


def validate_mapping(df: pd.DataFrame, mapping: ColumnMapping, file: str | Path) -> None:
    """Refuses a mapping that lacks a needed setting or names a column the table does not have."""
    if mapping.is_nested:
        if mapping.conversation_column is None:
            raise DataError(
                f"the {mapping.format.value} format needs the column that holds the list of turns; "
                "set the conversation column",
                file=file,
            )
        if mapping.parent_id_column is not None:
            raise DataError(
                "parent id chaining works only with prompt and answer columns, not with the "
                f"{mapping.format.value} format; clear the parent id column",
                file=file,
                field=mapping.parent_id_column,
            )
    else:
        if not mapping.prompt_columns:
            raise DataError("no prompt column is set; pass --prompt-column", file=file)
        if mapping.answer_column is None:
            raise DataError("no answer column is set; pass --answer-column", file=file)
    if mapping.is_nested and mapping.extra_answer_columns:
        raise DataError(
            "several answer columns work with prompt and answer columns, not with the "
            f"{mapping.format.value} format; keep one answer column",
            file=file,
            field=mapping.extra_answer_columns[0],
        )
    check_desirability_mapping(mapping, file)
    check_rejected_prompt_mapping(mapping, file)
    if mapping.parent_id_column is not None:
        if mapping.id_column is None:
            raise DataError(
                "a parent id column needs an id column too; pass --id-column",
                file=file,
                field=mapping.parent_id_column,
            )
        if mapping.id_column == mapping.parent_id_column:
            raise DataError(
                "the id column and the parent id column must be different columns",
                file=file,
                field=mapping.parent_id_column,
            )
    available = ", ".join(f"'{column}'" for column in df.columns) or "none"
    for setting, column in _used_columns(mapping):
        if column not in df.columns:
            raise DataError(
                f"the {setting} '{column}' is not in the file; columns found: {available}",
                file=file,
                field=column,
            )


def check_rejected_prompt_mapping(mapping: ColumnMapping, file: str | Path) -> None:
    """A rejected prompt column needs prompt and answer columns and a rejected answer column beside it."""
    column = mapping.rejected_prompt_column
    if column is None:
        return
    if mapping.is_nested:
        raise DataError(
            f"a rejected prompt column works with prompt and answer columns, not with the "
            f"{mapping.format.value} format; clear the rejected prompt column",
            file=file,
            field=column,
        )
    if mapping.rejected_answer_column is None:
        raise DataError(
            "a rejected prompt column needs a rejected answer column; pass --rejected-answer-column",
            file=file,
            field=column,
        )


def to_conversations(df: pd.DataFrame, mapping: ColumnMapping, file: str | Path) -> list[Conversation]:
    """Every row as conversations; raises ``DataError`` naming the first bad row and counting the others."""
    validate_mapping(df, mapping, file)
    if len(df) == 0:
        raise DataError("the file has no data rows", file=file)
    with _gc_paused():
        if mapping.is_nested:
            return _nested_conversations(df, mapping, file)
        return _flat_conversations(df, mapping, file)


def to_conversation_table(df: pd.DataFrame, mapping: ColumnMapping, file: str | Path) -> pa.Table:
    """``to_conversations`` as one Arrow table in the stored layout (``store``).

    Flat formats without parent ids are converted column by column, without a Python object per row.
    """
    if mapping.is_nested or mapping.is_chained:
        return conversations_table(to_conversations(df, mapping, file))
    validate_mapping(df, mapping, file)
    if len(df) == 0:
        raise DataError("the file has no data rows", file=file)
    import pyarrow as pa

    columns = flat_columns(df, mapping, file)
    if mapping.id_column is None:
        ids = pa.array(np.arange(1, len(df) + 1, dtype=np.int64)).cast(pa.string())
    else:
        ids = pa.array(_row_ids(df, mapping, file), type=pa.string())
    return flat_table(ids, columns)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector, which would otherwise rescan the many new objects repeatedly."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _used_columns(mapping: ColumnMapping) -> Iterator[tuple[str, str]]:
    if mapping.is_nested:
        yield "conversation column", mapping.conversation_column or ""
        if mapping.answer_column is not None:
            yield "answer column", mapping.answer_column
    else:
        for column in mapping.prompt_columns:
            yield "prompt column", column
        yield "answer column", mapping.answer_column or ""
        for column in mapping.extra_answer_columns:
            yield "answer column", column
    optional = [
        ("system column", mapping.system_column),
        ("id column", mapping.id_column),
        ("parent id column", mapping.parent_id_column),
        ("rejected answer column", mapping.rejected_answer_column),
        ("rejected prompt column", mapping.rejected_prompt_column),
        ("desirability column", mapping.desirability_column),
    ]
    for setting, column in optional:
        if column is not None:
            yield setting, column


def _texts(series: pd.Series) -> list[str]:
    return [to_text(value) for value in series.tolist()]


def _flat_conversations(df: pd.DataFrame, mapping: ColumnMapping, file: str | Path) -> list[Conversation]:
    n = len(df)
    columns = flat_columns(df, mapping, file)
    prompts, answers = columns.prompts.to_pylist(), columns.answers.to_pylist()
    systems = columns.systems.to_pylist() if columns.systems is not None else [""] * n
    rejected = columns.rejected.to_pylist() if columns.rejected is not None else None
    desirable = columns.desirable.to_pylist() if columns.desirable is not None else [None] * n
    rejected_prompts = (
        columns.rejected_prompts.to_pylist() if columns.rejected_prompts is not None else [None] * n
    )
    if mapping.is_chained:
        return build_chain_conversations(
            df[mapping.id_column].tolist(),
            df[mapping.parent_id_column].tolist(),
            prompts=prompts,
            answers=answers,
            systems=systems,
            rejected=rejected,
            rejected_prompts=rejected_prompts,
            file=file,
            id_column=mapping.id_column or "",
            parent_id_column=mapping.parent_id_column or "",
        )
    ids = _row_ids(df, mapping, file)
    return [
        Conversation(
            conversation_id=ids[i],
            tree_id=ids[i],
            system=systems[i],
            messages=(Message("user", prompts[i]), Message("assistant", answers[i])),
            source_row=i + 1,
            rejected_answer=rejected[i] if rejected else None,
            desirable=desirable[i],
            rejected_prompt=rejected_prompts[i],
        )
        for i in range(n)
    ]


def _row_ids(df: pd.DataFrame, mapping: ColumnMapping, file: str | Path) -> list[str]:
    if mapping.id_column is None:
        return [str(i + 1) for i in range(len(df))]
    return index_unique_ids(df[mapping.id_column].tolist(), file=file, id_column=mapping.id_column)[0]


def _nested_conversations(df: pd.DataFrame, mapping: ColumnMapping, file: str | Path) -> list[Conversation]:
    column = mapping.conversation_column or ""
    rejected_column, answer_column = mapping.rejected_answer_column, mapping.answer_column
    conversations = nested_conversations(
        df[column].tolist(),
        mapping.format,
        column,
        ids=_row_ids(df, mapping, file),
        systems=_texts(df[mapping.system_column]) if mapping.system_column else None,
        rejected_cells=df[rejected_column].tolist() if rejected_column else None,
        rejected_column=rejected_column,
        file=file,
        answer_cells=df[answer_column].tolist() if answer_column else None,
        answer_column=answer_column,
        desirable=_desirable(df, mapping, file),
    )
    check_turn_lengths(conversations, column, file)
    return conversations


def check_turn_lengths(conversations: list[Conversation], column: str, file: str | Path) -> None:
    """Refuse a conversation with a turn (or rejected answer) over ``MAX_TEXT_CHARS``, naming its row."""
    problems = RowProblems(file)
    for conversation in conversations:
        texts = [m.content for m in conversation.messages] + [conversation.rejected_answer or ""]
        longest = max(len(text) for text in texts)
        if longest > MAX_TEXT_CHARS:
            reason = (
                f"has a turn of {longest:,} characters, more than the {MAX_TEXT_CHARS:,} a sample can use; "
                "split or shorten it"
            )
            problems.add(conversation.source_row, RowError(reason, column))
    problems.raise_if_any()


def _desirable(df: pd.DataFrame, mapping: ColumnMapping, file: str | Path) -> list[bool] | None:
    column = mapping.desirability_column
    return desirability_values(df[column], column, file) if column else None
