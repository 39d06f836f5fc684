"""The Trainer subclass and the mapping from the config to TrainingArguments."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainingArguments

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.data.prepare import LOSS_WEIGHTS
from studio_desktop.core.events import Event, Log
from studio_desktop.core.precision import Precision
from studio_desktop.core.problem_types import LOSS_METRICS
from studio_desktop.core.training.optim import create_optimizer, create_scheduler
from studio_desktop.core.training.packing import sample_averaged_loss
from studio_desktop.core.training.recipe import RunSetup

SAMPLE_AVERAGED = "SampleAveragedCrossEntropy"
BEST_METRIC = {
    "Perplexity": ("eval_loss", False),
    "BLEU": ("eval_bleu", True),
    "ROUGE-L": ("eval_rouge_l", True),
    "AUC": ("eval_auc", True),
    "Accuracy": ("eval_accuracy", True),
    "LogLoss": ("eval_logloss", False),
    "MSE": ("eval_mse", False),
    "MAE": ("eval_mae", False),
    "Reward": ("eval_reward", True),
}


@dataclass(frozen=True)
class GenerationSet:
    """Validation prompts and reference answers for generation metrics."""

    prompts: list[str]
    references: list[str]


@dataclass(frozen=True)
class StepPlan:
    """How many optimizer steps an epoch has and when to evaluate and save."""

    steps_per_epoch: int
    total_steps: int
    eval_steps: int


def plan_steps(cfg: ExperimentConfig, train_samples: int, drop_last: bool) -> StepPlan:
    """Steps per epoch, total steps and the evaluation interval from the config."""
    batch = cfg.training.batch_size
    batches = train_samples // batch if drop_last else math.ceil(train_samples / batch)
    steps_per_epoch = max(1, math.ceil(batches / cfg.training.grad_accumulation))
    eval_steps = max(1, round(cfg.training.evaluation_epochs * steps_per_epoch))
    return StepPlan(steps_per_epoch, steps_per_epoch * cfg.training.epochs, eval_steps)


def build_arguments(
    cfg: ExperimentConfig,
    output_dir: Path,
    plan: StepPlan,
    *,
    device: str,
    precision: Precision,
    seed: int,
    drop_last: bool,
    has_eval: bool,
    padded: bool,
    arguments_class: type[TrainingArguments] = TrainingArguments,
    **extra: Any,
) -> TrainingArguments:
    """The ``arguments_class`` arguments of the run (TRL's configs subclass TrainingArguments), with the
    ``extra`` fields of that class; autocast as ``precision`` chose it.

    ``padded`` says whether batches hold padding; padding-free batches count every input token as seen.
    """
    training, prediction = cfg.training, cfg.prediction
    metric, greater = BEST_METRIC.get(prediction.metric, ("eval_loss", False))
    policy = training.save_checkpoint
    save = policy != "disable"
    tracks_best = policy == "best" and has_eval
    return arguments_class(
        output_dir=str(output_dir),
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=prediction.batch_size_inference or training.batch_size,
        gradient_accumulation_steps=training.grad_accumulation,
        num_train_epochs=training.epochs,
        max_grad_norm=training.gradient_clip,
        logging_steps=1,
        logging_nan_inf_filter=False,  # a non-finite loss is reported (and ends the run), not averaged away
        eval_strategy="steps" if has_eval else "no",
        eval_steps=plan.eval_steps,
        save_strategy="steps" if save else "no",
        save_steps=plan.eval_steps,
        save_total_limit={"last": 1, "best": 2}.get(policy),
        load_best_model_at_end=tracks_best,
        # Only "best" tracks the best checkpoint: with one checkpoint kept and a best one tracked, the Trainer
        # deletes the last checkpoint at the end (the one a stop just wrote) when an earlier one was best.
        metric_for_best_model=metric if tracks_best else None,
        greater_is_better=greater if tracks_best else None,
        seed=seed,
        data_seed=seed,
        bf16=precision.autocast == "bfloat16",
        fp16=precision.autocast == "float16",
        use_cpu=device == "cpu",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=cfg.environment.number_of_workers,
        torch_compile=cfg.environment.compile_model,
        ddp_find_unused_parameters=cfg.environment.find_unused_parameters,
        dataloader_drop_last=drop_last,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding" if padded else "all",
        neftune_noise_alpha=cfg.augmentation.neftune_noise_alpha or None,
        eval_on_start=training.evaluate_before_training and has_eval,
        **extra,
    )


def run_arguments(
    setup: RunSetup, train_size: int, *, has_eval: bool, padded: bool, **extra: Any
) -> tuple[TrainingArguments, StepPlan]:
    """The arguments and step plan of a recipe's run over ``train_size`` training items (see
    ``build_arguments`` for ``padded`` and ``extra``)."""
    cfg = setup.cfg
    drop_last = cfg.training.drop_last_batch and train_size >= 2 * cfg.training.batch_size
    plan = plan_steps(cfg, train_size, drop_last)
    args = build_arguments(
        cfg,
        setup.paths.checkpoints,
        plan,
        device=setup.device,
        precision=setup.precision,
        seed=setup.seed,
        drop_last=drop_last,
        has_eval=has_eval,
        padded=padded,
        **extra,
    )
    return args, plan


class StudioMixin:
    """What every trainer of the app adds to a transformers or TRL trainer: the config's optimizer and
    schedule, evaluation that never drops or trims samples, and generated answers scored at each evaluation.

    Mixed in before the trainer class; ``attach_studio`` is called once the trainer is built.
    """

    def attach_studio(
        self,
        *,
        studio_cfg: ExperimentConfig,
        plan: StepPlan,
        emit: Callable[[Event], None],
        generation: GenerationSet | None = None,
        on_generation: Callable[[list[str]], dict[str, float]] | None = None,
    ) -> None:
        """Set what the overrides below use."""
        self.studio_cfg = studio_cfg
        self.plan = plan
        self.generation = generation
        self.on_generation = on_generation
        self.emit = emit
        self.last_eval_step = -1

    def create_optimizer(self, model: Any = None) -> Any:
        if self.optimizer is None:
            self.optimizer = create_optimizer(model or self.model, self.studio_cfg)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        if self.lr_scheduler is None:
            self.lr_scheduler = create_scheduler(
                optimizer or self.optimizer, self.studio_cfg, num_training_steps, self.plan.steps_per_epoch
            )
        return self.lr_scheduler

    def get_eval_dataloader(self, eval_dataset: Any = None) -> Any:
        """Evaluation never drops an incomplete last batch (a small validation set may be one batch) and
        never trims samples (``padding_quantile`` is for training)."""
        drop_last, collator = self.args.dataloader_drop_last, self.data_collator
        self.args.dataloader_drop_last = False
        self.data_collator = collator.for_evaluation() if hasattr(collator, "for_evaluation") else collator
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.args.dataloader_drop_last, self.data_collator = drop_last, collator

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict:
        """Validation loss, then generated answers scored by ``on_generation`` (logged as ``eval_*``)."""
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        self.last_eval_step = self.state.global_step
        if self.generation is None or self.on_generation is None or not self.generation.prompts:
            return metrics
        if not self.generates_answers_now():
            return metrics
        self.emit(Log(level="info", message=f"Generating {len(self.generation.prompts)} validation answers"))
        scores = self.on_generation(self.generation.prompts)
        prefixed = {f"{metric_key_prefix}_{key}": value for key, value in scores.items()}
        self.log(prefixed)
        metrics.update(prefixed)
        return metrics

    def generates_answers_now(self) -> bool:
        """Whether this evaluation generates validation answers: every one for a metric scored on answers,
        only the last one (at the end of training) for a metric read from the validation loss."""
        if self.studio_cfg.prediction.metric not in LOSS_METRICS:
            return True
        return self.state.global_step >= self.state.max_steps


class StudioTrainer(StudioMixin, Trainer):
    """The SFT trainer: transformers' Trainer with the app's additions and the sample-averaged loss."""

    def __init__(
        self,
        *args: Any,
        studio_cfg: ExperimentConfig,
        plan: StepPlan,
        generation: GenerationSet | None,
        on_generation: Callable[[list[str]], dict[str, float]] | None,
        emit: Callable[[Event], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.attach_studio(
            studio_cfg=studio_cfg, plan=plan, emit=emit, generation=generation, on_generation=on_generation
        )
        if studio_cfg.training.loss_function == SAMPLE_AVERAGED:
            self.loss_is_scaled_for_ga = True  # divided by the samples of the accumulated batch

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """The Trainer's loss, or the sample-averaged one when the batch carries loss weights."""
        weights = inputs.pop(LOSS_WEIGHTS, None)
        if weights is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = sample_averaged_loss(outputs, labels, weights, num_items_in_batch)
        return (loss, outputs) if return_outputs else loss

    def _get_num_items_in_batch(self, batch_samples: list, device: Any) -> Any:
        """Samples (the sum of their loss weights) when sample-averaged, else the Trainer's token count."""
        if batch_samples and LOSS_WEIGHTS in batch_samples[0]:
            return sum(batch[LOSS_WEIGHTS].sum() for batch in batch_samples).to(device)
        return super()._get_num_items_in_batch(batch_samples, device)


class HeadTrainer(StudioMixin, Trainer):
    """The classification and regression trainer: the head's outputs scored by the config's loss."""

    def __init__(self, *args: Any, loss: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_loss_name = loss
        self.loss_is_scaled_for_ga = False  # a batch mean: the Trainer divides it by the accumulated steps

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        from studio_desktop.core.training.heads import head_loss

        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = head_loss(self.head_loss_name, outputs.logits, labels)
        return (loss, outputs) if return_outputs else loss
