"""DPO on the bundled backbone through the CLI: the preference set about the app, about 20 steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio_desktop.core.resources import demo_preferences_file
from tests.e2e.test_bundled_demo import studio

pytestmark = pytest.mark.slow


def test_dpo_on_the_bundled_backbone_prefers_the_chosen_answers(tmp_path: Path) -> None:
    workdir = tmp_path / "workdir"
    assert studio(workdir, "init").returncode == 0
    imported = studio(workdir, "dataset", "import", str(demo_preferences_file()), "--name", "prefs")
    assert imported.returncode == 0, imported.stderr
    config = tmp_path / "dpo.yaml"
    config.write_text("problem_type: text_dpo_modeling\nexperiment_name: dpo\n", encoding="utf-8")
    settings = {
        "dataset.train_dataframe": "prefs",
        "training.epochs": 3,  # 29 training pairs in batches of 4: 21 steps
        "training.batch_size": 4,
        "training.learning_rate": 0.0005,
        "training.lora_r": 16,
        "training.lora_alpha": 32,
        "training.evaluate_before_training": "true",
        "tokenizer.max_length": 128,
        "prediction.max_length_inference": 8,
    }
    overrides = [part for key, value in settings.items() for part in ("--set", f"{key}={value}")]
    train = studio(workdir, "train", "--config", str(config), *overrides)
    assert train.returncode == 0, train.stderr
    events = [json.loads(line) for line in (workdir / "experiments" / "dpo" / "events.jsonl").open()]
    metrics = [e["values"] for e in events if e["kind"] == "metric"]
    validation = [values for values in metrics if "val/rewards/margins" in values]
    assert len(validation) == 4  # before training and after each epoch
    assert validation[-1]["val/rewards/accuracies"] > 0.5
    assert validation[-1]["val/rewards/margins"] > validation[0]["val/rewards/margins"]
    shown = studio(workdir, "experiment", "show", "dpo")
    assert "val/rewards/margins" in shown.stdout and "val/perplexity" not in shown.stdout
