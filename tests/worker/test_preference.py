"""Preference training (text_dpo_modeling) on the tiny model: every loss trains, reports rewards, learns."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from studio_desktop.core.events import Failed, Finished, Metric, Progress
from studio_desktop.core.problem_types import DPO, LOSSES
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.launcher import start_training_worker
from studio_desktop.worker.train import EXIT_FAILED, EXIT_FINISHED, EXIT_STOPPED, run_training
from tests.worker.test_training import ROOT, train_losses, wait_for

PAIRS = [
    (f"Which colour is item {i}?", "The sky is blue.", "The fox jumps over the lazy dog.") for i in range(10)
]


@pytest.fixture
def preference_workdir(trained_workdir, tiny_model_dir: Path):
    wd, catalog = trained_workdir
    source = wd.root.parent / "pairs.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "chosen", "rejected"])
        writer.writerows(PAIRS)
    mapping = {"prompt_columns": ["prompt"], "answer_column": "chosen", "rejected_answer_column": "rejected"}
    request = ImportRequest(
        source=source, name="pairs", mapping=mapping, backbone=str(tiny_model_dir), validation_size=0.2
    )
    import_dataset(wd, catalog, request)
    return wd, catalog


def preference_config(make_config, name: str, **overrides):
    values = {
        "problem_type": DPO,
        "dataset__train_dataframe": "pairs",
        "training__save_checkpoint": "disable",
    }
    return make_config(name, **(values | overrides))


def metrics(experiment, name: str) -> list[float]:
    return [e.values[name] for e in experiment.events() if isinstance(e, Metric) and name in e.values]


@pytest.mark.parametrize("loss", LOSSES[DPO])
def test_every_preference_loss_trains_and_reports_rewards(preference_workdir, make_config, loss: str) -> None:
    wd, catalog = preference_workdir
    cfg = preference_config(
        make_config, f"pref-{loss.lower()}", training__loss_function=loss, training__epochs=3
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED, experiment.events()[-1]
    steps = [e.step for e in experiment.events() if isinstance(e, Progress)]
    # 8 training pairs in batches of 2 for 3 epochs; KTO trains each pair as 2 rated answers.
    assert steps[-1] == (24 if loss == "KTOLoss" else 12)
    assert metrics(experiment, "train/rewards/margins")
    final = experiment.events()[-1]
    assert isinstance(final, Finished) and "val/rewards/margins" in final.metrics
    assert (experiment.model_dir / "adapter_model.safetensors").is_file()


def test_dpo_margin_rises_on_a_memorisable_pair_set(preference_workdir, make_config) -> None:
    wd, catalog = preference_workdir
    cfg = preference_config(make_config, "pref-learns", training__epochs=6, training__learning_rate=0.01)
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    margins = metrics(experiment, "val/rewards/margins")
    assert margins[-1] > margins[0] + 0.1
    assert metrics(experiment, "val/rewards/accuracies")[-1] == 1.0


def test_kto_trains_on_answers_rated_by_a_desirability_column(preference_workdir, make_config) -> None:
    wd, catalog = preference_workdir
    source = wd.root.parent / "rated.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "answer", "kto_tag"])
        for prompt, chosen, rejected in PAIRS:
            writer.writerows([(prompt, chosen, "true"), (prompt, rejected, "false")])
    request = ImportRequest(source=source, name="rated", backbone=str(Path(make_config("x").llm_backbone)))
    import_dataset(wd, catalog, request)
    cfg = preference_config(
        make_config, "kto-rated", dataset__train_dataframe="rated", training__loss_function="KTOLoss"
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED, experiment.events()[-1]
    assert metrics(experiment, "train/kl") and metrics(experiment, "val/rewards/chosen")
    dpo = preference_config(make_config, "dpo-rated", dataset__train_dataframe="rated")
    refused = create_experiment(wd, catalog, dpo)
    assert run_training(wd.root, refused.path) == EXIT_FAILED
    assert "train with KTOLoss" in refused.events()[-1].message


def test_a_dataset_without_rejected_answers_fails_naming_the_row(preference_workdir, make_config) -> None:
    wd, catalog = preference_workdir
    cfg = preference_config(make_config, "pref-no-rejected", dataset__train_dataframe="facts")
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FAILED
    failed = experiment.events()[-1]
    assert isinstance(failed, Failed) and failed.failure == "data"
    assert "row" in failed.message and "no rejected answer" in failed.message


def test_stop_then_resume_reproduces_the_uninterrupted_preference_curve(
    preference_workdir, make_config
) -> None:
    wd, catalog = preference_workdir
    settings = {
        "training__epochs": 6,
        "training__save_checkpoint": "last",
        "training__evaluation_epochs": 0.25,
    }
    reference = create_experiment(wd, catalog, preference_config(make_config, "pref-straight", **settings))
    assert run_training(wd.root, reference.path) == EXIT_FINISHED
    expected = train_losses(reference)

    interrupted = create_experiment(wd, catalog, preference_config(make_config, "pref-stopped", **settings))
    os.environ["PYTHONPATH"] = str(ROOT)
    process = start_training_worker(wd.root, interrupted.path)
    wait_for(lambda: any(isinstance(e, Progress) and e.step >= 5 for e in interrupted.events()))
    interrupted.request_stop()
    assert process.wait(timeout=300) == EXIT_STOPPED
    stop_step = interrupted.events()[-1].step
    assert stop_step < max(expected)
    interrupted.stop_path.unlink()
    assert run_training(wd.root, interrupted.path, resume=True) == EXIT_FINISHED
    got = train_losses(interrupted)
    assert sorted(got) == sorted(expected)
    assert [got[s] for s in sorted(got)] == pytest.approx([expected[s] for s in sorted(expected)], rel=1e-4)


def recipe_setup(tmp_path: Path, make_config, **overrides):
    """The run setup the worker gives a preference recipe, for a config with ``overrides``."""
    from studio_desktop.core.events import EventWriter
    from studio_desktop.core.precision import choose_precision
    from studio_desktop.core.torch_devices import device_facts
    from studio_desktop.core.training.recipe import RunPaths, RunSetup

    cfg = preference_config(make_config, "built", **overrides)
    paths = RunPaths(tmp_path, tmp_path / "checkpoints", tmp_path / "model", tmp_path / "predictions.csv")
    sink = EventWriter(tmp_path / "events.jsonl")
    return RunSetup(cfg, paths, sink, lambda: False, 0, "cpu", choose_precision(cfg, device_facts("cpu")))


def pair_conversations(rejected_prompt: str | None = None):
    from studio_desktop.core.data.conversations import Conversation, Message

    return [
        Conversation(
            str(i), str(i), "", (Message("user", q), Message("assistant", a)), i + 1, r, None, rejected_prompt
        )
        for i, (q, a, r) in enumerate(PAIRS)
    ]


def built_trainer(tmp_path: Path, tiny_model_dir: Path, make_config, **overrides):
    """The DPO trainer the recipe builds for the tiny model (nothing trained)."""
    from studio_desktop.core.backbones import load_tokenizer
    from studio_desktop.core.modeling import load_backbone, prepare_for_training
    from studio_desktop.core.training.dpo import RECIPE

    setup = recipe_setup(tmp_path, make_config, **overrides)
    pairs = pair_conversations()
    tokenizer = load_tokenizer(tiny_model_dir)
    model = prepare_for_training(load_backbone(tiny_model_dir, setup.cfg, "cpu"), setup.cfg, False)
    data = RECIPE.build_datasets(setup, tokenizer, pairs[:8], pairs[8:])
    return model, RECIPE.build_trainer(setup, model, tokenizer, data).trainer


def test_kto_rates_a_rejected_answer_after_its_own_prompt(tmp_path, tiny_model_dir, make_config) -> None:
    from studio_desktop.core.backbones import load_tokenizer
    from studio_desktop.core.errors import DataError
    from studio_desktop.core.training.dpo import RECIPE

    tokenizer = load_tokenizer(tiny_model_dir)
    pairs = pair_conversations(rejected_prompt="What does the fox do?")
    setup = recipe_setup(tmp_path, make_config, training__loss_function="KTOLoss")
    rows = RECIPE.build_datasets(setup, tokenizer, pairs[:8], pairs[8:]).train.to_list()
    good = [row["prompt"] for row in rows if row["label"]]
    bad = [row["prompt"] for row in rows if not row["label"]]
    assert all("Which colour is item" in p and "fox" not in p for p in good)
    assert len(bad) == 8 and all("What does the fox do?" in p and "colour" not in p for p in bad)
    dpo = recipe_setup(tmp_path, make_config)
    with pytest.raises(DataError, match=r"row 1: the rejected answer has its own prompt.*KTOLoss"):
        RECIPE.build_datasets(dpo, tokenizer, pairs[:8], pairs[8:])


def test_with_lora_the_reference_is_the_backbone_without_its_adapter(
    tmp_path, tiny_model_dir, make_config
) -> None:
    model, trainer = built_trainer(tmp_path, tiny_model_dir, make_config)
    assert trainer.ref_model is None  # TRL disables the adapter for reference log-probabilities
    assert hasattr(trainer.model, "disable_adapter")
    frozen = [p for n, p in model.named_parameters() if "lora_" not in n]
    assert frozen and not any(p.requires_grad for p in frozen)


def test_full_fine_tuning_gets_a_reference_copy_that_stays_as_loaded(
    tmp_path, tiny_model_dir, make_config
) -> None:
    import torch

    model, trainer = built_trainer(tmp_path, tiny_model_dir, make_config, training__lora=False)
    reference = trainer.ref_model
    assert reference is not None and reference is not model
    pointers = {p.data_ptr() for p in model.parameters()}
    assert not pointers & {p.data_ptr() for p in reference.parameters()}
    before = {n: p.detach().clone() for n, p in reference.named_parameters()}
    policy_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train()
    assert all(torch.equal(p, before[n]) for n, p in reference.named_parameters())
    assert any(not torch.equal(p, policy_before[n]) for n, p in model.named_parameters())


def test_a_preference_run_chats_and_exports_like_any_run(preference_workdir, make_config, tmp_path) -> None:
    from studio_desktop.jobs.exports import export_experiment
    from tests.support.cli import cli

    wd, catalog = preference_workdir
    experiment = create_experiment(
        wd, catalog, preference_config(make_config, "pref-ship", training__epochs=1)
    )
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    chat = cli(wd.root, "chat", "pref-ship", "--prompt", "Which colour is item 1?")
    assert chat.returncode == 0, chat.stderr
    out = export_experiment(wd, catalog, "pref-ship", "merged", tmp_path / "export")
    assert (out / "config.json").is_file() and "text_dpo_modeling" in (out / "README.md").read_text()
