"""The bundled backbone as a binary classifier through the CLI, on the review set written for the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio_desktop.core.resources import demo_reviews_file
from tests.e2e.test_bundled_demo import studio

pytestmark = pytest.mark.slow


def test_the_bundled_backbone_learns_to_tell_pleased_from_unhappy_reviews(tmp_path: Path) -> None:
    workdir = tmp_path / "workdir"
    assert studio(workdir, "init").returncode == 0
    imported = studio(
        workdir, "dataset", "import", str(demo_reviews_file()), "--name", "reviews",
        "--prompt-column", "review", "--answer-column", "label", "--validation-size", "0.25",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    config = tmp_path / "classify.yaml"
    config.write_text(
        "problem_type: text_causal_classification_modeling\nexperiment_name: reviews\n", encoding="utf-8"
    )
    settings = {
        "dataset.train_dataframe": "reviews",
        "dataset.validation_size": 0.25,
        "training.epochs": 2,  # 90 training reviews in batches of 8: 24 steps
        "training.batch_size": 8,
        "training.learning_rate": 0.0005,
        "training.evaluate_before_training": "true",
        "tokenizer.max_length": 96,
    }
    overrides = [part for key, value in settings.items() for part in ("--set", f"{key}={value}")]
    train = studio(workdir, "train", "--config", str(config), *overrides)
    assert train.returncode == 0, train.stderr
    events = [json.loads(line) for line in (workdir / "experiments" / "reviews" / "events.jsonl").open()]
    validation = [e["values"] for e in events if e["kind"] == "metric" and "val/auc" in e["values"]]
    assert len(validation) >= 3  # before training and after each epoch
    assert validation[-1]["val/auc"] > 0.8, validation
    assert validation[-1]["val/logloss"] < validation[0]["val/logloss"]
