"""Classification and regression metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studio_desktop.core.data.targets import HeadTask
from studio_desktop.core.head_metrics import average_ranks, head_metrics, roc_auc, scores

BINARY = HeadTask(regression=False, loss="BinaryCrossEntropyLoss", outputs=1)
MULTICLASS = HeadTask(regression=False, loss="CrossEntropyLoss", outputs=3)
REGRESSION = HeadTask(regression=True, loss="MSELoss", outputs=1)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_auc_counts_ordered_pairs_and_ties_count_half() -> None:
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of the 4 pairs are in order.
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    # A tie between a positive and a negative counts half.
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert list(average_ranks(np.array([3.0, 1.0, 3.0, 2.0]))) == [3.5, 1.0, 3.5, 2.0]


def test_binary_metrics() -> None:
    logits = np.array([[logit(0.9)], [logit(0.2)], [logit(0.6)], [logit(0.3)]])
    targets = np.array([[1.0], [0.0], [0.0], [1.0]])
    metrics = head_metrics(BINARY, logits, targets)
    assert metrics["accuracy"] == pytest.approx(0.5)  # 0.6 and 0.3 are on the wrong side
    assert metrics["auc"] == pytest.approx(0.75)  # 0.3 < 0.6 is the one pair out of order
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.3)) / 4
    assert metrics["logloss"] == pytest.approx(expected)


def test_multiclass_metrics_use_the_softmax() -> None:
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]]))
    targets = np.array([[0.0], [2.0], [1.0]])
    assert scores(MULTICLASS, logits) == pytest.approx(np.exp(logits))
    metrics = head_metrics(MULTICLASS, logits, targets)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["logloss"] == pytest.approx(-(math.log(0.7) + math.log(0.6) + math.log(0.4)) / 3)
    # One-vs-rest: class 0 ranks its row first (1.0), class 1 (0.4 vs 0.2, 0.3) 1.0, class 2 1.0.
    assert metrics["auc"] == pytest.approx(1.0)


def test_an_auc_needs_both_labels() -> None:
    metrics = head_metrics(BINARY, np.array([[0.3], [0.1]]), np.array([[1.0], [1.0]]))
    assert math.isnan(metrics["auc"]) and metrics["accuracy"] == 1.0


def test_regression_metrics() -> None:
    metrics = head_metrics(REGRESSION, np.array([[1.0], [4.0]]), np.array([[2.0], [2.0]]))
    assert metrics == {"mse": pytest.approx(2.5), "mae": pytest.approx(1.5)}
