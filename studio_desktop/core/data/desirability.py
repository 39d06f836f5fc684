"""Desirability flags of unpaired preference data (KTO): reading the cells, recognising such a column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from studio_desktop.core.data.turns import RowError, RowProblems, to_text
from studio_desktop.core.errors import DataError

SNIFF_ROWS = 50

GOOD_WORDS = frozenset({"true", "1", "yes", "good", "desirable", "1.0"})
BAD_WORDS = frozenset({"false", "0", "no", "bad", "undesirable", "0.0"})


def desirability(value: object, column: str | None) -> bool:
    """A desirability cell (true/false, 1/0, yes/no, good/bad) as a bool; anything else is a RowError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    word = to_text(value).strip().lower()
    if word in GOOD_WORDS:
        return True
    if word in BAD_WORDS:
        return False
    shown = to_text(value) or "empty"
    raise RowError(f"the desirability is {shown!r}; use true/false, 1/0 or yes/no", column)


def desirability_values(series: pd.Series, column: str, file: str | Path) -> list[bool]:
    """Every desirability cell of a column; raises ``DataError`` naming the first bad row."""
    problems = RowProblems(file)
    values: list[bool] = []
    for row, value in enumerate(series.tolist(), start=1):
        try:
            values.append(desirability(value, column))
        except RowError as problem:
            problems.add(row, problem)
    problems.raise_if_any()
    return values


def looks_rated(series: pd.Series) -> bool:
    """Whether the first cells of a column all read as desirability flags (a 'label' may be a class)."""
    try:
        for value in series.head(SNIFF_ROWS).tolist():
            desirability(value, None)
    except RowError:
        return False
    return True


def check_desirability_mapping(mapping: Any, file: str | Path) -> None:
    """A desirability column rates single answers: no rejected answers, no parent-id chains."""
    if mapping.desirability_column is None:
        return
    if mapping.rejected_answer_column is not None or mapping.parent_id_column is not None:
        raise DataError(
            "a desirability column rates single answers: it cannot be combined with a rejected answer "
            "column or parent ids; clear one of them",
            file=file,
            field=mapping.desirability_column,
        )
