"""Scores of a classification or regression head on validation data: AUC, accuracy, log loss; MSE, MAE.

Everything here works on NumPy arrays of logits and targets (``core.data.targets``), so it needs no torch.
Multiclass AUC is the mean of one-vs-rest AUCs, multilabel AUC the mean over the label columns (classes or
columns with a single kind of label are left out, as they have no AUC).
"""

from __future__ import annotations

import numpy as np

from studio_desktop.core.data.targets import HeadTask

EPSILON = 1e-7


def scores(task: HeadTask, logits: np.ndarray) -> np.ndarray:
    """What the head says per sample: class probabilities (softmax for multiclass, sigmoid per output
    otherwise) or the predicted values (regression)."""
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if task.regression:
        return logits
    if task.multiclass:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-logits))


def head_metrics(task: HeadTask, logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Every metric of the task's kind, named as logged: ``auc``, ``accuracy``, ``logloss``, or ``mse``,
    ``mae``."""
    predicted = scores(task, logits)
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    if task.regression:
        errors = predicted - targets
        return {"mse": float(np.mean(errors**2)), "mae": float(np.mean(np.abs(errors)))}
    if task.multiclass:
        labels = targets[:, 0].astype(int)
        chosen = np.clip(predicted[np.arange(len(labels)), labels], EPSILON, 1.0)
        one_hot = np.eye(task.outputs)[labels]
        result = {
            "accuracy": float(np.mean(predicted.argmax(axis=1) == labels)),
            "logloss": float(-np.mean(np.log(chosen))),
        }
        return {"auc": mean_auc(one_hot, predicted), **result}
    clipped = np.clip(predicted, EPSILON, 1.0 - EPSILON)
    logloss = -np.mean(targets * np.log(clipped) + (1.0 - targets) * np.log(1.0 - clipped))
    return {
        "auc": mean_auc(targets, predicted),
        "accuracy": float(np.mean((predicted >= 0.5) == (targets >= 0.5))),
        "logloss": float(logloss),
    }


def mean_auc(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The mean ROC AUC over the columns that hold both labels (NaN when none does)."""
    values = [
        roc_auc(labels[:, column], predicted[:, column])
        for column in range(labels.shape[1])
        if 0 < labels[:, column].sum() < len(labels)
    ]
    return float(np.mean(values)) if values else float("nan")


def roc_auc(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The area under the ROC curve of binary ``labels``: the chance that a positive sample scores above a
    negative one (ties count half), from the ranks of the scores (Mann-Whitney U)."""
    labels = np.asarray(labels) >= 0.5
    positives = int(labels.sum())
    negatives = len(labels) - positives
    ranks = average_ranks(np.asarray(predicted, dtype=np.float64))
    u = ranks[labels].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``; tied values share the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks start..end-1 (0-based) → mean of start+1 … end
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks
