"""Flat formats (prompt and answer columns) read column by column with Arrow instead of row by row.

Every column's text becomes one Arrow string array; blank cells, the joined prompt columns and the rows
with problems are found with vectorised compute functions. Only the first bad row is looked at in Python,
to word its error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from studio_desktop.core.data.desirability import desirability_values
from studio_desktop.core.data.turns import RowError, RowProblems, is_list_like, to_text

if TYPE_CHECKING:
    import pyarrow as pa

#: The longest text a cell (or a turn) may hold: about 250,000 tokens, beyond the longest sample a run can
#: train (``tokenizer.max_length`` is at most 131,072); longer ones are refused at import, naming the row.
MAX_TEXT_CHARS = 1_000_000
# Every character for which Python's str.isspace() is true: a cell is blank when str.strip() empties it.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class FlatColumns:
    """The texts of a flat table's rows: string arrays without nulls (``None`` for unmapped columns), the
    desirability flags of unpaired preference data, and the rejected side's own prompts (null where a row
    has none: the rejected answer follows the chosen one's prompt)."""

    prompts: pa.Array
    answers: pa.Array
    systems: pa.Array | None
    rejected: pa.Array | None
    desirable: pa.Array | None = None
    rejected_prompts: pa.Array | None = None


def text_array(series: pd.Series) -> pa.Array:
    """A column as text, a missing cell as ``""`` (as ``turns.to_text`` reads each cell)."""
    import pyarrow as pa

    try:
        array: Any = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = None
    if array is None or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return pa.array([to_text(value) for value in series.tolist()], type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.string()).fill_null("")


def blank(texts: pa.Array) -> np.ndarray:
    """Whether each text is empty or whitespace only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Only a text that is empty or starts with whitespace can be blank: trim just those.
    first = pc.utf8_slice_codeunits(texts, 0, 1)
    maybe = pc.is_in(first, value_set=pa.array(["", *WHITESPACE])).to_numpy(zero_copy_only=False)
    result = np.zeros(len(texts), dtype=bool)
    candidates = np.flatnonzero(maybe)
    if len(candidates):
        trimmed = pc.utf8_trim(texts.take(pa.array(candidates)), WHITESPACE)
        result[candidates] = pc.equal(pc.utf8_length(trimmed), 0).to_numpy(zero_copy_only=False)
    return result


def same_text(first: pa.Array, second: pa.Array) -> np.ndarray:
    """Whether each pair of texts is equal once surrounding whitespace is trimmed."""
    import pyarrow.compute as pc

    equal = pc.equal(pc.utf8_trim(first, WHITESPACE), pc.utf8_trim(second, WHITESPACE))
    return equal.to_numpy(zero_copy_only=False).astype(bool)


def join_prompts(parts: list[pa.Array], separator: str) -> pa.Array:
    """The prompt columns of each row joined by ``separator``, blank parts left out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(parts) == 1:
        return parts[0]
    missing = pa.scalar(None, pa.string())
    joined = None
    for column in parts:
        part = pc.if_else(pa.array(blank(column)), missing, column)
        if joined is None:
            joined = part
            continue
        both = pc.binary_join_element_wise(joined, part, separator)  # null where either is
        joined = pc.coalesce(both, joined, part)
    return pc.fill_null(joined, "")


def check_text_length(texts: pa.Array, column: str, file: str | Path) -> None:
    """Refuse a column with a text longer than ``MAX_TEXT_CHARS``, naming the first such row."""
    import pyarrow.compute as pc

    lengths = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
    over = np.flatnonzero(lengths > MAX_TEXT_CHARS)
    if len(over):
        problems = RowProblems(file)
        reason = (
            f"holds {int(lengths[over[0]]):,} characters, more than the {MAX_TEXT_CHARS:,} a sample can use; "
            "split or shorten it"
        )
        problems.add(int(over[0]) + 1, RowError(reason, column))
        problems.count = len(over)
        problems.raise_if_any()


def check_text_cells(series: pd.Series, column: str, file: str | Path) -> None:
    """Refuse a text column whose cells hold lists or objects (they would train as their Python text)."""
    if series.dtype != object:
        return
    problems = RowProblems(file)
    for row, value in enumerate(series.tolist(), start=1):
        if isinstance(value, Mapping) or is_list_like(value):
            kind = "an object" if isinstance(value, Mapping) else "a list"
            reason = (
                f"holds {kind}, not text; a column of turns needs the sharegpt or messages format, "
                "otherwise choose a text column"
            )
            problems.add(row, RowError(reason, column))
    problems.raise_if_any()


def flat_columns(df: pd.DataFrame, mapping: Any, file: str | Path) -> FlatColumns:
    """The texts of every row; raises ``DataError`` naming the first bad row and counting the others."""
    answer_columns = (mapping.answer_column, *mapping.extra_answer_columns)
    text_columns = (*mapping.prompt_columns, *answer_columns, mapping.system_column)
    for column in (*text_columns, mapping.rejected_answer_column, mapping.rejected_prompt_column):
        if column:
            check_text_cells(df[column], column, file)
    texts = {
        column: text_array(df[column]) for column in (*text_columns, mapping.rejected_answer_column) if column
    }
    if mapping.rejected_prompt_column:
        texts[mapping.rejected_prompt_column] = text_array(df[mapping.rejected_prompt_column])
    for column, array in texts.items():
        check_text_length(array, column, file)
    prompts = join_prompts(
        [texts[column] for column in mapping.prompt_columns], mapping.prompt_column_separator
    )
    answers = joined_answers([texts[column] for column in answer_columns], answer_columns, file)
    systems = texts[mapping.system_column] if mapping.system_column else None
    rejected = texts[mapping.rejected_answer_column] if mapping.rejected_answer_column else None
    bad = blank(prompts) | blank(answers)
    if rejected is not None:
        bad |= blank(rejected) | same_text(answers, rejected)
    count = int(bad.sum())
    if count:
        first = int(np.argmax(bad))
        problem = flat_row_problem(
            prompts[first].as_py(),
            answers[first].as_py(),
            rejected[first].as_py() if rejected is not None else None,
            mapping,
        )
        problems = RowProblems(file)
        problems.add(first + 1, problem or RowError("the row is empty", None))
        problems.count = count
        problems.raise_if_any()
    desirable = None
    if mapping.desirability_column:
        import pyarrow as pa

        flags = desirability_values(df[mapping.desirability_column], mapping.desirability_column, file)
        desirable = pa.array(flags, type=pa.bool_())
    return FlatColumns(
        prompts,
        answers,
        systems,
        rejected,
        desirable,
        rejected_prompts(texts.get(mapping.rejected_prompt_column or ""), prompts),
    )


def joined_answers(parts: list[pa.Array], columns: tuple[str, ...], file: str | Path) -> pa.Array:
    """The answer of each row: the answer column's text, or with several answer columns (labels or targets)
    their cells joined by commas; a blank cell among several is refused naming its row and column."""
    if len(parts) == 1:
        return parts[0]
    import pyarrow.compute as pc

    missing = np.stack([blank(part) for part in parts])
    empty = missing.any(axis=0)
    if empty.any():
        row = int(np.argmax(empty))
        problems = RowProblems(file)
        column = columns[int(np.argmax(missing[:, row]))]
        problems.add(row + 1, RowError("the cell is empty; every answer column needs a value", column))
        problems.count = int(empty.sum())
        problems.raise_if_any()
    return pc.binary_join_element_wise(*parts, ",")


def rejected_prompts(texts: pa.Array | None, prompts: pa.Array) -> pa.Array | None:
    """The rejected side's own prompt of each row (``texts``: the rejected prompt column); null where the
    cell is blank or repeats the prompt (the rejected answer follows the chosen one's prompt)."""
    if texts is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    shared = blank(texts) | same_text(texts, prompts)
    return pc.if_else(pa.array(shared), pa.scalar(None, pa.string()), texts)


def flat_row_problem(prompt: str, answer: str, rejected: str | None, mapping: Any) -> RowError | None:
    """What is wrong with one flat row, if anything."""
    if not prompt.strip():
        columns = mapping.prompt_columns
        what = (
            "the prompt is empty"
            if len(columns) == 1
            else f"all prompt columns ({', '.join(columns)}) are empty"
        )
        return RowError(f"{what}; fill in a prompt or remove the row", columns[0])
    if not answer.strip():
        return RowError("the answer is empty; fill in an answer or remove the row", mapping.answer_column)
    if rejected is not None and not rejected.strip():
        return RowError(
            "the rejected answer is empty; fill it in or remove the row", mapping.rejected_answer_column
        )
    if rejected is not None and rejected.strip() == answer.strip():
        return RowError(
            "the rejected answer is the same as the chosen one; fix or remove the row",
            mapping.rejected_answer_column,
        )
    return None
