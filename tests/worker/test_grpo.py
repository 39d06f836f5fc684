"""GRPO (text_grpo_modeling) on the tiny model: rewards rise, every reward reports, the user's function is
checked before the run, predictions hold sampled completions, and a stopped run resumes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from studio_desktop.core.events import Failed, Finished, Metric, Progress, Started
from studio_desktop.core.problem_types import GRPO
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import EXIT_FAILED, EXIT_FINISHED, run_training
from tests.worker.test_heads import write_rows
from tests.worker.test_training import assert_same_curve, stop_and_resume


@pytest.fixture
def grpo_workdir(trained_workdir, tiny_model_dir: Path):
    """The working directory with ``words``: 8 prompts whose reference answer is "blue" (2 held out)."""
    wd, catalog = trained_workdir
    rows = [[f"Colour of item {i}?", "blue"] for i in range(8)]
    source = write_rows(wd.root.parent / "words.csv", ["prompt", "answer"], rows)
    request = ImportRequest(source=source, name="words", backbone=str(tiny_model_dir), validation_size=0.25)
    import_dataset(wd, catalog, request)
    return wd, catalog


def grpo_config(make_config, name: str, **overrides):
    values = {
        "problem_type": GRPO,
        "dataset__train_dataframe": "words",
        "dataset__validation_size": 0.25,
        "training__save_checkpoint": "disable",
        "training__batch_size": 8,
        "training__num_generations": 8,
        "training__max_completion_length": 6,
        "training__evaluate_before_training": True,
    }
    return make_config(name, **(values | overrides))


def values(experiment, name: str) -> list[float]:
    return [e.values[name] for e in experiment.events() if isinstance(e, Metric) and name in e.values]


def finish(wd, experiment) -> Finished:
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED, experiment.events()[-1]
    final = experiment.events()[-1]
    assert isinstance(final, Finished)
    return final


def test_an_exact_match_reward_rises_on_a_memorisable_prompt_set(grpo_workdir, make_config) -> None:
    wd, catalog = grpo_workdir
    # A short supervised start makes "blue" one of several likely answers; GRPO then makes it the answer.
    start = make_config(
        "says-blue", dataset__train_dataframe="words", training__epochs=20, training__lora=False
    )
    finish(wd, create_experiment(wd, catalog, start))
    cfg = grpo_config(
        make_config,
        "grpo-blue",
        training__epochs=8,
        training__lora=False,
        training__learning_rate=0.002,
        training__beta=0.0,
        architecture__pretrained_weights="says-blue",
    )
    experiment = create_experiment(wd, catalog, cfg)
    final = finish(wd, experiment)
    rewards = values(experiment, "val/reward")
    assert len(rewards) == 9  # before training and after each epoch
    assert sum(rewards[-3:]) / 3 > rewards[0] + 0.15, rewards
    assert values(experiment, "train/rewards/exact_match/mean") and values(experiment, "train/reward_std")
    assert values(experiment, "train/completion_length")
    assert "val/perplexity" not in final.metrics
    table = pd.read_csv(experiment.predictions_path, keep_default_na=False)
    assert list(table.columns) == ["prompt", "reference", "completion", "exact_match", "reward"]
    assert len(table) == 16 and set(table["reference"]) == {"blue"}  # 2 prompts x 8 completions
    assert table["reward"].is_monotonic_decreasing
    assert ((table["completion"].str.strip().str.lower() == "blue") == (table["exact_match"] == 1.0)).all()


CUSTOM = """def reward(completion, prompt, reference):
    return len(set(completion) & set(reference)) / len(set(reference))
"""


def test_every_reward_function_reports_with_lora_a_kl_penalty_and_gspo(grpo_workdir, make_config) -> None:
    wd, catalog = grpo_workdir
    cfg = grpo_config(
        make_config,
        "grpo-all",
        training__epochs=1,
        training__reward_number_match=0.5,
        training__reward_format_match=0.5,
        training__reward_format_pattern=r"^\S",
        training__reward_length_window=0.5,
        training__reward_length_min=2,
        training__reward_length_max=12,
        training__reward_custom=1.0,
        training__reward_custom_code=CUSTOM,
        training__importance_sampling_level="sequence",
        training__loss_function="GRPOLoss",
    )
    experiment = create_experiment(wd, catalog, cfg)
    final = finish(wd, experiment)
    for name in ("exact_match", "number_match", "format_match", "length_window", "custom"):
        assert f"train/rewards/{name}/mean" in final.metrics, name
    assert "train/kl" in final.metrics  # beta > 0: the adapter-off backbone is the reference
    steps = [e.step for e in experiment.events() if isinstance(e, Progress)]
    assert steps[-1] == 6  # 6 prompts x 8 completions in batches of 8
    table = pd.read_csv(experiment.predictions_path, keep_default_na=False)
    expected = 0.5 * (table["number_match"] + table["format_match"] + table["length_window"])
    assert (table["reward"] - (table["exact_match"] + expected + table["custom"])).abs().max() < 1e-9


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def reward(completion, prompt, reference):\n    return 1 / 0\n", "line 2: ZeroDivisionError"),
        ("def reward(completion, prompt, reference)\n    return 1\n", "line 1: expected ':'"),
        ("def score(completion):\n    return 1\n", "defines no function named 'reward'"),
        (
            "def reward(completion, prompt, reference):\n    return 'high'\n",
            "returned 'high' for training row 1",
        ),
    ],
)
def test_a_broken_reward_function_is_reported_before_the_run_with_its_line(
    grpo_workdir, make_config, code: str, message: str
) -> None:
    wd, catalog = grpo_workdir
    cfg = grpo_config(
        make_config, "grpo-broken", training__reward_custom=1.0, training__reward_custom_code=code
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FAILED
    failed = experiment.events()[-1]
    assert isinstance(failed, Failed) and failed.failure == "config"
    assert failed.message.startswith("training.reward_custom_code") and message in failed.message
    assert not any(isinstance(e, Started) for e in experiment.events())  # refused before the model loaded


def test_stop_then_resume_continues_the_grpo_run(grpo_workdir, make_config) -> None:
    wd, catalog = grpo_workdir
    settings = {
        "training__epochs": 8,
        "training__save_checkpoint": "last",
        "training__evaluation_epochs": 0.5,
    }
    reference = create_experiment(wd, catalog, grpo_config(make_config, "grpo-straight", **settings))
    finish(wd, reference)
    interrupted = create_experiment(wd, catalog, grpo_config(make_config, "grpo-stopped", **settings))
    stop_and_resume(wd, interrupted, at_step=12)
    assert_same_curve(interrupted, reference, abs=1e-4)
