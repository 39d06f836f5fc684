"""Training runs on the tiny model: events, checkpoints, predictions, learning, resume, stop, dtypes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from studio_desktop.core.events import Checkpoint, Failed, Finished, Metric, Progress, Started
from studio_desktop.jobs.experiment import Experiment, create_experiment
from studio_desktop.jobs.launcher import start_training_worker
from studio_desktop.worker.train import EXIT_FAILED, EXIT_FINISHED, EXIT_STOPPED, run_training

ROOT = Path(__file__).resolve().parents[2]


def train_losses(experiment: Experiment) -> dict[int, float]:
    return {
        e.step: e.values["train/loss"]
        for e in experiment.events()
        if isinstance(e, Metric) and "train/loss" in e.values
    }


def run_in_process(wd, experiment: Experiment, resume: bool = False) -> int:
    return run_training(wd.root, experiment.path, resume=resume)


def test_a_metric_scored_on_answers_generates_them_at_every_evaluation(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    cfg = make_config("bleu-run", training__evaluation_epochs=1.0, prediction__metric="BLEU")
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    answer_steps = [e.step for e in experiment.events() if isinstance(e, Metric) and "val/bleu" in e.values]
    assert answer_steps == [4, 8]


def test_a_run_writes_events_checkpoints_model_and_predictions(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("full-run", training__evaluation_epochs=0.5))
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    events = experiment.events()
    kinds = [e.KIND for e in events]
    assert kinds.count("started") == 1 and kinds[-1] == "finished"
    started = next(e for e in events if isinstance(e, Started))
    assert started.train_samples == 8 and started.validation_samples == 2 and started.total_steps == 8
    assert 0 < started.trainable_params < started.total_params
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, 9))
    assert progress[-1].tokens > 0 and progress[-1].samples == 16
    val_steps = sorted({e.step for e in events if isinstance(e, Metric) and "val/loss" in e.values})
    assert val_steps == [2, 4, 6, 8]
    # Perplexity is read from the loss: answers are generated (and scored) at the last evaluation only.
    answer_steps = [e.step for e in events if isinstance(e, Metric) and "val/bleu" in e.values]
    assert answer_steps == [8] and any(isinstance(e, Metric) and "val/rouge_l" in e.values for e in events)
    checkpoints = [e for e in events if isinstance(e, Checkpoint)]
    assert checkpoints and Path(checkpoints[-1].path).is_dir()
    assert [p.name for p in experiment.checkpoints_dir.iterdir()] == ["checkpoint-8"]  # save policy "last"
    assert (experiment.model_dir / "adapter_config.json").exists()
    table = pd.read_csv(experiment.predictions_path)
    assert (
        list(table.columns[:5]) == ["prompt", "target", "prediction", "bleu", "rouge_l"] and len(table) == 2
    )
    final = events[-1]
    assert isinstance(final, Finished) and final.status == "finished" and "val/perplexity" in final.metrics
    assert experiment.status() == "finished"


def test_loss_falls_on_a_memorisable_set(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    cfg = make_config(
        "memorise",
        training__epochs=15,
        training__lora=False,
        training__learning_rate=0.003,
        training__save_checkpoint="disable",
        training__evaluation_epochs=1.0,
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    losses = list(train_losses(experiment).values())
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4
    val = [
        e.values["val/loss"] for e in experiment.events() if isinstance(e, Metric) and "val/loss" in e.values
    ]
    assert len(val) == 15


def test_sample_averaged_loss_trimming_and_augmentation_still_learn(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    cfg = make_config(
        "augmented",
        training__epochs=15,
        training__lora=False,
        training__learning_rate=0.003,
        training__save_checkpoint="disable",
        training__loss_function="SampleAveragedCrossEntropy",
        training__grad_accumulation=2,
        tokenizer__padding_quantile=0.9,
        augmentation__token_mask_probability=0.1,
        augmentation__skip_parent_probability=0.3,
        augmentation__random_parent_probability=0.3,
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    losses = list(train_losses(experiment).values())
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:4]) / 4


def test_runs_record_their_memory_plan_and_peak_which_correct_later_plans(
    trained_workdir, make_config, tiny_model_dir
) -> None:
    from studio_desktop.core.memory_plan import read_model_shape, trained_parameters
    from studio_desktop.jobs.memory import measured_ratio, memory_calibration

    wd, catalog = trained_workdir
    assert memory_calibration(catalog, cuda=False) == 1.0  # no run yet
    ratios = []
    for name in ("memory-a", "memory-b"):
        experiment = create_experiment(wd, catalog, make_config(name, training__epochs=1))
        assert run_in_process(wd, experiment) == EXIT_FINISHED
        started = next(e for e in experiment.events() if isinstance(e, Started))
        finished = experiment.events()[-1]
        assert started.memory_plan.startswith("fits: about") and started.memory_estimate > 0
        assert isinstance(finished, Finished) and finished.peak_memory > 0
        # the planner counts the adapters the run really trained
        shape = read_model_shape(tiny_model_dir)
        assert trained_parameters(experiment.config(), shape) == started.trainable_params
        ratios.append(measured_ratio(experiment.path, cuda=False))
    assert memory_calibration(catalog, cuda=False) == pytest.approx(min(3.0, max(0.5, sum(ratios) / 2)))
    print(f"peak/estimate on the tiny model: {ratios}")


def test_evaluation_only(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("eval-only", training__epochs=0))
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    final = experiment.events()[-1]
    assert isinstance(final, Finished) and final.step == 0
    assert {"val/loss", "val/perplexity", "val/bleu"} <= set(final.metrics)
    assert not experiment.checkpoints_dir.exists() or not any(experiment.checkpoints_dir.iterdir())


def test_a_bad_dataset_is_a_failed_event(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("no-data", dataset__train_dataframe="missing"))
    assert run_in_process(wd, experiment) == EXIT_FAILED
    final = experiment.events()[-1]
    assert isinstance(final, Failed) and final.failure == "config"
    assert "dataset.train_dataframe = 'missing'" in final.message


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "int8", "int4"])
def test_backbone_dtypes_train_on_cpu(trained_workdir, make_config, dtype: str) -> None:
    wd, catalog = trained_workdir
    cfg = make_config(
        f"dtype-{dtype}",
        architecture__backbone_dtype=dtype,
        training__epochs=1,
        training__save_checkpoint="disable",
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED, experiment.events()[-1]
    assert all(math.isfinite(loss) for loss in train_losses(experiment).values())


def test_full_fine_tuning_with_gradient_checkpointing(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    cfg = make_config(
        "full", training__lora=False, architecture__gradient_checkpointing=True, training__epochs=1
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    started = next(e for e in experiment.events() if isinstance(e, Started))
    assert started.trainable_params == started.total_params
    assert (experiment.model_dir / "config.json").exists()


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def stop_and_resume(wd, experiment: Experiment, at_step: int) -> None:
    """Run ``experiment`` in a worker process, stop it once it passed ``at_step``, resume it to the end."""
    os.environ["PYTHONPATH"] = str(ROOT)
    process = start_training_worker(wd.root, experiment.path)
    wait_for(lambda: any(isinstance(e, Progress) and e.step >= at_step for e in experiment.events()))
    experiment.request_stop()
    assert process.wait(timeout=300) == EXIT_STOPPED
    experiment.stop_path.unlink()
    assert run_training(wd.root, experiment.path, resume=True) == EXIT_FINISHED
    started = [e for e in experiment.events() if isinstance(e, Started)]
    assert started[-1].resumed_from_step >= at_step


def assert_same_curve(resumed: Experiment, straight: Experiment, **tolerance: float) -> None:
    """The resumed run logged the same training loss at every step as the uninterrupted one."""
    got, expected = train_losses(resumed), train_losses(straight)
    assert sorted(got) == sorted(expected)
    assert [got[s] for s in sorted(got)] == pytest.approx(
        [expected[s] for s in sorted(expected)], **tolerance
    )


def test_stop_then_resume_continues_the_same_curve(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    config = {"training__epochs": 4, "training__evaluation_epochs": 0.25, "training__lora_dropout": 0.1}
    reference = create_experiment(wd, catalog, make_config("straight", **config))
    assert run_in_process(wd, reference) == EXIT_FINISHED
    expected = train_losses(reference)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    interrupted = create_experiment(wd, catalog, make_config("interrupted", **config))
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]
    process = start_training_worker(wd.root, interrupted.path)
    wait_for(lambda: any(isinstance(e, Progress) and e.step >= 5 for e in interrupted.events()))
    interrupted.request_stop()
    assert process.wait(timeout=120) == EXIT_STOPPED
    stopped = interrupted.events()[-1]
    assert isinstance(stopped, Finished) and stopped.status == "stopped"
    assert interrupted.status() == "stopped"
    assert interrupted.latest_checkpoint() is not None
    stop_step = stopped.step
    assert stop_step < max(expected)

    interrupted.stop_path.unlink()
    resumed = start_training_worker(wd.root, interrupted.path, resume=True)
    assert resumed.wait(timeout=120) == EXIT_FINISHED
    assert interrupted.status() == "finished"
    started = [e for e in interrupted.events() if isinstance(e, Started)]
    assert [s.resumed_from_step for s in started] == [0, stop_step]
    got = train_losses(interrupted)
    assert sorted(got) == sorted(expected)
    assert [got[s] for s in sorted(got)] == pytest.approx([expected[s] for s in sorted(expected)], rel=1e-4)


def test_sigterm_stops_with_a_checkpoint(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    experiment = create_experiment(wd, catalog, make_config("term", training__epochs=50))
    os.environ["PYTHONPATH"] = str(ROOT)
    process = start_training_worker(wd.root, experiment.path)
    wait_for(lambda: any(isinstance(e, Progress) for e in experiment.events()))
    process.terminate()
    assert process.wait(timeout=120) == EXIT_STOPPED
    assert experiment.latest_checkpoint() is not None
    assert experiment.status() == "stopped"


def test_cli_train_follows_and_exits_with_the_status(trained_workdir, make_config, tmp_path: Path) -> None:
    from studio_desktop.core.config_io import save_config

    wd, _ = trained_workdir
    config = save_config(make_config("cli-run", training__epochs=1), tmp_path / "cfg.yaml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio_desktop",
            "--workdir",
            str(wd.root),
            "train",
            "--config",
            str(config),
            "--set",
            "training.lora_r=4",
        ],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "finished at step 4" in result.stderr
    assert "experiment cli-run" in result.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "studio_desktop", "--workdir", str(wd.root), "experiment", "list", "--json"],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=60,
    )
    assert '"status": "finished"' in listed.stdout


@pytest.mark.parametrize(("policy", "expected"), [("each_evaluation_epoch", 4), ("best", 2), ("disable", 0)])
def test_checkpoint_policies(trained_workdir, make_config, policy: str, expected: int) -> None:
    wd, catalog = trained_workdir
    cfg = make_config(f"save-{policy}", training__save_checkpoint=policy, training__evaluation_epochs=0.5)
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    folders = (
        sorted(experiment.checkpoints_dir.glob("checkpoint-*")) if experiment.checkpoints_dir.exists() else []
    )
    assert len(folders) == expected
    if policy == "best":
        val = {
            e.step: e.values["val/loss"]
            for e in experiment.events()
            if isinstance(e, Metric) and "val/loss" in e.values
        }
        best_step = min(val, key=val.get)
        assert f"checkpoint-{best_step}" in {f.name for f in folders}


@pytest.mark.parametrize("lora", [True, False])
def test_starting_from_a_previous_experiment(trained_workdir, make_config, lora: bool) -> None:
    wd, catalog = trained_workdir
    first = create_experiment(wd, catalog, make_config("first", training__epochs=3, training__lora=lora))
    assert run_in_process(wd, first) == EXIT_FINISHED
    first_val = first.events()[-1].metrics["val/loss"]
    settings = {"training__epochs": 0, "training__lora": lora}
    second = create_experiment(
        wd, catalog, make_config("second", architecture__pretrained_weights="first", **settings)
    )
    assert run_in_process(wd, second) == EXIT_FINISHED, second.events()[-1]
    assert second.events()[-1].metrics["val/loss"] == pytest.approx(first_val, rel=1e-5)
    fresh = create_experiment(wd, catalog, make_config("fresh", **settings))
    assert run_in_process(wd, fresh) == EXIT_FINISHED
    assert fresh.events()[-1].metrics["val/loss"] != pytest.approx(first_val, rel=1e-3)


@pytest.mark.parametrize("optimizer", ["AdamW8bit", "SGD"])
def test_other_optimizers(trained_workdir, make_config, optimizer: str) -> None:
    wd, catalog = trained_workdir
    cfg = make_config(
        f"opt-{optimizer}",
        training__optimizer=optimizer,
        training__epochs=1,
        training__save_checkpoint="disable",
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED, experiment.events()[-1]


def test_a_validation_set_smaller_than_a_batch_is_evaluated(trained_workdir, make_config) -> None:
    wd, catalog = trained_workdir
    cfg = make_config("one-val", dataset__validation_size=0.1, training__epochs=1)
    experiment = create_experiment(wd, catalog, cfg)
    assert run_in_process(wd, experiment) == EXIT_FINISHED, experiment.events()[-1]
    started = next(e for e in experiment.events() if isinstance(e, Started))
    assert started.validation_samples == 1
    assert "val/loss" in experiment.events()[-1].metrics


def test_padding_free_batches_follow_the_padded_curve(trained_workdir, make_config) -> None:
    """Same samples per step, with gradient accumulation: the loss curves and validation loss agree."""
    wd, catalog = trained_workdir
    runs = {}
    for padding_free in (True, False):
        cfg = make_config(
            f"padding-free-{padding_free}",
            training__padding_free=padding_free,
            training__batch_size=2,
            training__grad_accumulation=2,
            training__epochs=4,
            training__save_checkpoint="disable",
        )
        experiment = create_experiment(wd, catalog, cfg)
        assert run_in_process(wd, experiment) == EXIT_FINISHED, experiment.events()[-1]
        runs[padding_free] = experiment
    packed, padded = (train_losses(runs[flag]) for flag in (True, False))
    assert packed.keys() == padded.keys() and len(packed) >= 4
    for step, loss in padded.items():
        assert packed[step] == pytest.approx(loss, rel=1e-3), step
    packed_val, padded_val = (runs[flag].events()[-1].metrics["val/loss"] for flag in (True, False))
    assert packed_val == pytest.approx(padded_val, rel=1e-3)
    tokens = [
        [e.tokens for e in runs[flag].events() if isinstance(e, Progress)][-1] for flag in (True, False)
    ]
    assert tokens[0] == tokens[1]  # both count the same non-padding tokens


def test_a_loss_that_becomes_nan_stops_the_run_and_keeps_the_last_good_checkpoint(
    trained_workdir, make_config, monkeypatch
) -> None:
    from safetensors.torch import load_file

    from studio_desktop.core.training.trainer import StudioTrainer

    compute_loss = StudioTrainer.compute_loss

    def diverging(self, model, inputs, *args, **kwargs):
        loss = compute_loss(self, model, inputs, *args, **kwargs)
        if isinstance(loss, tuple) or not model.training or self.state.global_step < 2:
            return loss
        return loss * float("nan")  # the training loss from the third step on

    monkeypatch.setattr(StudioTrainer, "compute_loss", diverging)
    wd, catalog = trained_workdir
    settings = {"training__batch_size": 4, "training__epochs": 3, "training__save_checkpoint": "last"}
    experiment = create_experiment(wd, catalog, make_config("diverges", **settings))
    assert run_in_process(wd, experiment) == EXIT_FAILED
    failed = experiment.events()[-1]
    assert isinstance(failed, Failed) and failed.failure == "diverged"
    assert failed.message.startswith("The training loss became nan at step 3;")
    assert "the last good checkpoint, checkpoint-2, is kept" in failed.message
    assert experiment.latest_checkpoint().name == "checkpoint-2"
    weights = load_file(experiment.latest_checkpoint() / "adapter_model.safetensors")
    assert all(tensor.isfinite().all() for tensor in weights.values())
    assert not any(isinstance(e, Metric) and e.step == 3 for e in experiment.events())


def test_with_save_checkpoint_last_a_better_earlier_evaluation_never_deletes_the_last_checkpoint(
    trained_workdir, make_config, monkeypatch
) -> None:
    from studio_desktop.core.training.trainer import StudioMixin

    evaluate = StudioMixin.evaluate

    def worsening(self, *args, **kwargs):  # every evaluation is worse than the one before
        metrics = evaluate(self, *args, **kwargs)
        metrics["eval_loss"] = 1.0 + self.state.global_step
        return metrics

    monkeypatch.setattr(StudioMixin, "evaluate", worsening)
    wd, catalog = trained_workdir
    settings = {"training__evaluation_epochs": 0.5, "training__save_checkpoint": "last"}
    experiment = create_experiment(wd, catalog, make_config("last-kept", **settings))
    assert run_in_process(wd, experiment) == EXIT_FINISHED
    announced = [e.step for e in experiment.events() if isinstance(e, Checkpoint)]
    assert announced[-1] == 8
    assert [p.name for p in experiment.checkpoints_dir.iterdir()] == ["checkpoint-8"]
    assert experiment.latest_checkpoint().name == "checkpoint-8"
