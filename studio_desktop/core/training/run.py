"""One run of any recipe: load the model, build data and trainer, train or only evaluate, save the result."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.documents import Document
from studio_desktop.core.events import Finished
from studio_desktop.core.memory_plan import FITS
from studio_desktop.core.torch_devices import peak_memory
from studio_desktop.core.training.recipe import Recipe, RunSetup

WarmStart = Callable[[Any], str | None]
"""Loads earlier weights into the prepared model; returns a line for the log, or None when it did nothing."""


@dataclass(frozen=True)
class RunInputs:
    """What the worker resolved: the data (conversations, or documents for continued pretraining), the
    backbone folder and an optional warm start."""

    train: list[Conversation] | list[Document]
    validation: list[Conversation] | list[Document]
    backbone_folder: Path
    warm_start: WarmStart | None = None


def run_recipe(recipe: Recipe, setup: RunSetup, inputs: RunInputs, checkpoint: Path | None) -> str:
    """Train (or only evaluate when epochs is 0) and save; returns "finished" or "stopped"."""
    from transformers import set_seed

    from studio_desktop.core.backbones import load_tokenizer
    from studio_desktop.core.modeling import load_backbone, prepare_for_training, save_trained

    cfg = setup.cfg
    set_seed(setup.seed)
    tokenizer = load_tokenizer(inputs.backbone_folder, setup.cfg.environment.trust_remote_code)
    for note in setup.precision.notes:
        setup.log(f"Precision: {note}")
    for warning in setup.precision.warnings:
        setup.log(warning, "warning")
    if setup.memory is not None:
        level = "warning" if setup.memory.verdict != FITS else "info"
        setup.log(f"Memory estimate: {setup.memory.describe()}", level)
    data = recipe.build_datasets(setup, tokenizer, inputs.train, inputs.validation)
    setup.log(f"Loading {cfg.llm_backbone} on {setup.device}")
    head = recipe.model_head(data)
    model = load_backbone(inputs.backbone_folder, cfg, setup.device, setup.precision, head)
    model = prepare_for_training(model, cfg, setup.checkpointing)
    if inputs.warm_start is not None and (line := inputs.warm_start(model)):
        setup.log(line)
    built = recipe.build_trainer(setup, model, tokenizer, data)
    trainer, callback = built.trainer, built.callback
    if cfg.training.epochs == 0:
        callback.on_train_begin(trainer.args, trainer.state, trainer.control)
        trainer.evaluate()
    else:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        if callback.stopped:
            peak = peak_memory(setup.device)
            setup.sink.emit(Finished(status="stopped", step=trainer.state.global_step, peak_memory=peak))
            return "stopped"
        if inputs.validation and trainer.last_eval_step != trainer.state.global_step:
            trainer.evaluate()
    save_trained(trainer.model, tokenizer, setup.paths.model)
    metrics = final_metrics(trainer, callback.perplexity)
    step, peak = trainer.state.global_step, peak_memory(setup.device)
    setup.sink.emit(Finished(status="finished", step=step, metrics=metrics, peak_memory=peak))
    return "finished"


def final_metrics(trainer: Any, perplexity: bool = True) -> dict[str, float]:
    """The last value of every validation metric and the last training loss, from the Trainer's history
    (with ``val/perplexity`` from the validation loss when ``perplexity``)."""
    from studio_desktop.core.training.callback import metric_name

    result: dict[str, float] = {}
    for entry in trainer.state.log_history:
        for key, value in entry.items():
            name = metric_name(key)
            if name and isinstance(value, (int, float)):
                result[name] = float(value)
    if "val/loss" in result and perplexity:
        result["val/perplexity"] = math.exp(min(result["val/loss"], 50.0))
    return result
