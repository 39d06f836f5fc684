"""Turns Trainer callbacks into events and honours stop requests."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from studio_desktop.core.errors import DivergenceError
from studio_desktop.core.events import Checkpoint, Event, Metric, Progress, Started

if TYPE_CHECKING:
    from studio_desktop.core.training.recipe import RunSetup

METRIC_NAMES = {
    "loss": "train/loss",
    "learning_rate": "lr",
    "grad_norm": "grad_norm",
    # GRPO: the weighted reward of the sampled completions, its spread within groups, their length
    "reward": "train/reward",
    "reward_std": "train/reward_std",
    "completions/mean_length": "train/completion_length",
}
# GRPO's other per-batch diagnostics, not charted.
GRPO_DIAGNOSTICS = ("completions/", "clip_ratio", "frac_reward_zero_std", "sampling/")


# TRL's per-batch diagnostics that are not charted (log-probabilities, logits, token entropy and counts).
TRL_DIAGNOSTICS = (
    "logps/",
    "logits/",
    "entropy",
    "num_tokens",
    "mean_token_accuracy",
    "nll_loss",
    "log_odds",
)
PREFERENCE_PREFIX = "rewards/"


def metric_name(key: str) -> str | None:
    """Event name of a Trainer log key: ``loss`` → ``train/loss``, ``eval_loss`` → ``val/loss``,
    ``rewards/margins`` → ``train/rewards/margins``, ``eval_rewards/margins`` → ``val/rewards/margins``
    (KTO's ``kl`` likewise)."""
    if key in METRIC_NAMES:
        return METRIC_NAMES[key]
    if key.startswith(PREFERENCE_PREFIX) or key == "kl":
        return f"train/{key}"
    if key.startswith("eval_"):
        name = key[len("eval_") :]
        if name in METRIC_NAMES and name.startswith(("reward", "completions/")):
            return METRIC_NAMES[name].replace("train/", "val/", 1)
        if name.endswith(("_runtime", "_per_second")) or name.startswith(TRL_DIAGNOSTICS + GRPO_DIAGNOSTICS):
            return None
        if name in {"runtime", "samples_per_second", "steps_per_second"}:
            return None
        return f"val/{name}"
    return None


def started_fields(setup: RunSetup, model: Any, train: Sized, validation: Sized) -> dict[str, Any]:
    """The fields of the started event that the run knows before the Trainer starts."""
    from studio_desktop.core.modeling import count_parameters

    trainable, total = count_parameters(model)
    precision = setup.precision
    return {
        "pid": os.getpid(),
        "backbone": setup.cfg.llm_backbone,
        "device": setup.device,
        "trainable_params": trainable,
        "total_params": total,
        "train_samples": len(train),
        "validation_samples": len(validation),
        "seed": setup.seed,
        "precision": f"{precision.weights} weights, {precision.autocast or 'no'} autocast",
        "memory_plan": setup.memory.describe() if setup.memory else "",
        "memory_estimate": setup.memory.uncorrected_total if setup.memory else 0,
    }


DIVERGENCE_SIGNS = {"loss": "loss", "grad_norm": "gradient norm"}


class EventCallback(TrainerCallback):
    """Writes progress, metric and checkpoint events; stops training (with a checkpoint) when asked to."""

    def __init__(
        self,
        emit: Callable[[Event], None],
        should_stop: Callable[[], bool],
        started: dict[str, Any],
        samples_per_step: int,
        save_on_stop: bool,
        *,
        perplexity: bool = True,
    ) -> None:
        self.emit = emit
        self.should_stop = should_stop
        self.started = started
        self.samples_per_step = samples_per_step
        self.save_on_stop = save_on_stop
        self.stopped = False
        self.perplexity = perplexity
        self._clock: tuple[float, int, int] | None = None
        self._rate = 0.0

    @classmethod
    def for_run(cls, setup: RunSetup, started: dict[str, Any], perplexity: bool = True) -> EventCallback:
        """The callback of a run: events to its sink, checkpoint on stop unless checkpoints are disabled.

        ``perplexity``: the validation loss is a language-model loss, so ``val/perplexity`` is reported.
        """
        training = setup.cfg.training
        return cls(
            setup.sink.emit,
            setup.should_stop,
            started,
            training.batch_size * training.grad_accumulation,
            training.save_checkpoint != "disable",
            perplexity=perplexity,
        )

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.emit(Started(total_steps=state.max_steps, resumed_from_step=state.global_step, **self.started))

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._clock is None:  # start timing at the first step, after any evaluation before training
            self._clock = (time.monotonic(), state.global_step, state.num_input_tokens_seen)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.emit(self._progress(state))
        if self.should_stop():
            self.stopped = True
            control.should_training_stop = True
            control.should_save = self.save_on_stop

    def _progress(self, state: Any) -> Progress:
        now = time.monotonic()
        start_time, start_step, start_tokens = self._clock or (now, state.global_step, 0)
        elapsed = max(now - start_time, 1e-9)
        steps_done = state.global_step - start_step
        tokens = int(state.num_input_tokens_seen)
        rate = (tokens - start_tokens) / elapsed
        eta = (state.max_steps - state.global_step) * elapsed / steps_done if steps_done > 0 else None
        return Progress(
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=float(state.epoch or 0.0),
            samples=state.global_step * self.samples_per_step,
            tokens=tokens,
            tokens_per_second=round(rate, 2),
            eta_seconds=round(eta, 1) if eta is not None else None,
        )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Report the logged metrics; a non-finite training loss or gradient norm ends the run
        (``DivergenceError``) before anything of that step is saved."""
        for key, what in DIVERGENCE_SIGNS.items():
            value = (logs or {}).get(key)
            if isinstance(value, (int, float)) and not math.isfinite(value):
                raise DivergenceError(what, value, state.global_step)
        values = {}
        for key, value in (logs or {}).items():
            name = metric_name(key)
            if name is not None and isinstance(value, (int, float)) and math.isfinite(value):
                values[name] = float(value)
        if "val/loss" in values and self.perplexity:
            values["val/perplexity"] = math.exp(min(values["val/loss"], 50.0))
        if values:
            self.emit(
                Metric(
                    step=state.global_step,
                    epoch=float(state.epoch or 0.0),
                    tokens=int(state.num_input_tokens_seen),
                    values=values,
                )
            )

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        best = state.best_model_checkpoint is not None and Path(state.best_model_checkpoint).name == path.name
        self.emit(Checkpoint(step=state.global_step, path=str(path), best=best))
