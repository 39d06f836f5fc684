"""The labels (classification) and values (regression) a head learns, read from the conversations' answers.

An answer holds one number, or several joined by commas (several answer columns: multilabel classification,
multi-target regression). The checks are H2O LLM Studio's; each refusal names the file, row, column and value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.errors import DataError

BINARY_LOSS = "BinaryCrossEntropyLoss"
MULTICLASS_LOSS = "CrossEntropyLoss"


@dataclass(frozen=True)
class DataSource:
    """Where conversations come from, for messages: the file and the answer column(s) of the targets."""

    file: str = "training data"
    answer_columns: tuple[str, ...] = ()

    def column(self, index: int) -> str:
        """The name of the ``index``-th answer column (a generic name when it is not known)."""
        if index < len(self.answer_columns):
            return self.answer_columns[index]
        return "answer" if index == 0 else f"answer {index + 1}"


@dataclass(frozen=True)
class HeadTask:
    """What a head predicts: ``outputs`` logits per sample, trained by ``loss``.

    Classification: ``BinaryCrossEntropyLoss`` with one output (binary) or one per label column
    (multilabel), ``CrossEntropyLoss`` with ``num_classes`` outputs. Regression: one output per target.
    """

    regression: bool
    loss: str
    outputs: int

    @property
    def multiclass(self) -> bool:
        """One label out of several classes (softmax over the outputs)."""
        return not self.regression and self.loss == MULTICLASS_LOSS

    @property
    def hf_problem_type(self) -> str:
        """The ``problem_type`` of a transformers sequence-classification config."""
        if self.regression:
            return "regression"
        return "single_label_classification" if self.multiclass else "multi_label_classification"

    @property
    def target_width(self) -> int:
        """Numbers per answer: one class index for multiclass data, else one per output."""
        return 1 if self.multiclass else self.outputs


def parse_targets(conversations: Sequence[Conversation], source: DataSource) -> np.ndarray:
    """The numbers of every answer as a (samples, numbers) float array; refuses a multi-turn conversation, a
    cell that is not a number, a missing or NaN value and rows with different counts of numbers."""
    rows: list[list[float]] = []
    width = None
    for conversation in conversations:
        where = {"file": source.file, "row": conversation.source_row}
        if conversation.turns != 1:
            raise DataError(
                "a multi-turn conversation (parent id chain): a head learns one prompt and its label per "
                "row; import the data without a parent id column",
                **where,
            )
        cells = conversation.answer.split(",")
        if width is None:
            width = len(cells)
        elif len(cells) != width:
            raise DataError(
                f"holds {len(cells)} value(s) where the rows before hold {width}; every row needs one value "
                "per answer column",
                field=source.column(0),
                **where,
            )
        values = []
        for index, cell in enumerate(cells):
            column = source.column(index if width > 1 else 0)
            text = cell.strip()
            try:
                value = float(text)
            except ValueError:
                raise DataError(f"value {text!r} is not a number", field=column, **where) from None
            if not math.isfinite(value):
                raise DataError(f"value {text!r} is missing, NaN or infinite", field=column, **where)
            values.append(value)
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), width or 1)


def check_targets(
    values: np.ndarray, conversations: Sequence[Conversation], task: HeadTask, source: DataSource
) -> list[str]:
    """Refuse targets that do not fit ``task`` (naming row, column and value); return warnings."""
    if values.shape[1] != task.target_width:
        raise DataError(_width_problem(values.shape[1], task), file=source.file)
    if task.regression:
        return []
    limit = task.outputs if task.multiclass else 2
    for row_index, column_index in zip(*np.nonzero(~_allowed(values, limit)), strict=True):
        value = values[row_index, column_index]
        reason = _label_problem(value, task)
        raise DataError(
            f"label {_number(value)} {reason}",
            file=source.file,
            row=conversations[row_index].source_row,
            field=source.column(int(column_index)),
        )
    if not task.multiclass:
        return []
    seen = set(np.unique(values).astype(int).tolist())
    unseen = [label for label in range(task.outputs) if label not in seen]
    if not unseen:
        return []
    return [
        f"{source.file}: the labels are not contiguous: class(es) {', '.join(map(str, unseen))} of 0 to "
        f"{task.outputs - 1} (dataset.num_classes = {task.outputs}) never appear; the head still has "
        f"{task.outputs} outputs"
    ]


def _allowed(values: np.ndarray, limit: int) -> np.ndarray:
    return (values == np.round(values)) & (values >= 0) & (values < limit)


def _label_problem(value: float, task: HeadTask) -> str:
    if value != round(value):
        return "is not an integer: classification labels are class numbers 0, 1, 2, …"
    if value < 0:
        return "is negative: classification labels are class numbers from 0"
    if task.multiclass:
        return (
            f"is not below dataset.num_classes = {task.outputs}: labels of {task.outputs} classes are 0 to "
            f"{task.outputs - 1}; raise num_classes or fix the row"
        )
    return (
        "is neither 0 nor 1: BinaryCrossEntropyLoss learns binary labels; for several classes set "
        "dataset.num_classes and training.loss_function = CrossEntropyLoss"
    )


def _width_problem(width: int, task: HeadTask) -> str:
    if task.regression:
        return f"the answers hold {width} value(s) per row, but the run predicts {task.outputs} target(s)"
    if task.multiclass:
        return (
            f"the answers hold {width} labels per row; CrossEntropyLoss takes a single label column "
            "(several label columns are multilabel data: use BinaryCrossEntropyLoss)"
        )
    return (
        f"the answers hold {width} label(s) per row, but dataset.num_classes = {task.outputs}: multilabel "
        "data needs num_classes equal to the number of label columns; for one label out of several classes "
        "use training.loss_function = CrossEntropyLoss"
    )


def _number(value: float) -> str:
    return str(int(value)) if value == round(value) else repr(float(value))
