"""One training run: data, model, Trainer, evaluation with generation, saving the result."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.events import Event, Finished, Log
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment
from studio_desktop.jobs.training_data import load_training_conversations
from studio_desktop.jobs.workdir import Workdir


@dataclass
class TrainingSession:
    """Builds everything a run needs from the frozen config and runs it."""

    cfg: ExperimentConfig
    experiment: Experiment
    workdir: Workdir
    catalog: Catalog
    emit: Callable[[Event], None]
    should_stop: Callable[[], bool]
    seed: int

    def log(self, message: str, level: str = "info") -> None:
        self.emit(Log(level=level, message=message))  # type: ignore[arg-type]

    def run(self, checkpoint: Path | None) -> str:
        """Train (or only evaluate when epochs is 0); returns "finished" or "stopped"."""
        from transformers import set_seed

        from studio_desktop.core.backbones import load_tokenizer, resolve_backbone
        from studio_desktop.core.modeling import count_parameters, pick_device

        set_seed(self.seed)
        train, validation = load_training_conversations(self.cfg, self.catalog)
        self.log(f"{len(train)} training and {len(validation)} validation conversations")
        backbone = resolve_backbone(
            self.catalog.backbone_location(self.cfg.llm_backbone), self.workdir.models
        )
        tokenizer = load_tokenizer(backbone.folder)
        device = pick_device(self.cfg.environment)
        self.log(f"Loading {self.cfg.llm_backbone} on {device}")
        model = self._load_model(backbone.folder, device)
        trainable, total = count_parameters(model)
        trainer, callback = self._build_trainer(
            model, tokenizer, train, validation, device=device, trainable=trainable, total=total
        )
        if self.cfg.training.epochs == 0:
            callback.on_train_begin(trainer.args, trainer.state, trainer.control)
            trainer.evaluate()
        else:
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
            if callback.stopped:
                self.emit(Finished(status="stopped", step=trainer.state.global_step))
                return "stopped"
            if validation and trainer.last_eval_step != trainer.state.global_step:
                trainer.evaluate()
        from studio_desktop.core.modeling import save_trained

        save_trained(trainer.model, tokenizer, self.experiment.model_dir)
        self.emit(Finished(status="finished", step=trainer.state.global_step, metrics=final_metrics(trainer)))
        return "finished"

    def _load_model(self, backbone_folder: Path, device: str) -> Any:
        from studio_desktop.core.modeling import load_backbone, prepare_for_training
        from studio_desktop.worker.warm_start import apply_pretrained_weights

        model = load_backbone(backbone_folder, self.cfg, device)
        model = prepare_for_training(model, self.cfg)
        if self.cfg.architecture.pretrained_weights:
            apply_pretrained_weights(model, self.cfg.architecture.pretrained_weights, self.catalog)
            self.log(f"Started from the weights of {self.cfg.architecture.pretrained_weights}")
        return model

    def _build_trainer(
        self,
        model: Any,
        tokenizer: Any,
        train: list[Conversation],
        validation: list[Conversation],
        *,
        device: str,
        trainable: int,
        total: int,
    ) -> tuple[Any, Any]:
        from transformers import PrinterCallback

        from studio_desktop.core.data.prepare import (
            DataCollator,
            TokenizedDataset,
            encode_conversations,
            generation_prompts,
            template_settings,
        )
        from studio_desktop.core.training.callback import EventCallback
        from studio_desktop.core.training.trainer import (
            GenerationSet,
            StudioTrainer,
            build_arguments,
            plan_steps,
        )
        from studio_desktop.worker.preview import write_batch_preview

        cfg = self.cfg
        settings = template_settings(cfg.dataset)
        max_length = cfg.tokenizer.max_length
        train_samples = encode_conversations(tokenizer, train, settings, max_length)
        write_batch_preview(self.experiment.path, tokenizer, train_samples, cfg.training.batch_size)
        train_set = TokenizedDataset(train_samples)
        eval_set = TokenizedDataset(encode_conversations(tokenizer, validation, settings, max_length))
        drop_last = cfg.training.drop_last_batch and len(train_set) >= 2 * cfg.training.batch_size
        plan = plan_steps(cfg, len(train_set), drop_last)
        collator, loss = self._batching(model, tokenizer)
        args, note = build_arguments(
            cfg,
            self.experiment.checkpoints_dir,
            plan,
            device=device,
            seed=self.seed,
            drop_last=drop_last,
            has_eval=bool(validation),
            padded=isinstance(collator, DataCollator),
        )
        if note:
            self.log(note, "warning")
        started = {
            "pid": os.getpid(),
            "backbone": cfg.llm_backbone,
            "device": device,
            "trainable_params": trainable,
            "total_params": total,
            "train_samples": len(train_set),
            "validation_samples": len(eval_set),
            "seed": self.seed,
        }
        samples_per_step = cfg.training.batch_size * cfg.training.grad_accumulation
        callback = EventCallback(
            self.emit, self.should_stop, started, samples_per_step, cfg.training.save_checkpoint != "disable"
        )
        generation = GenerationSet(
            prompts=generation_prompts(tokenizer, validation, settings),
            references=[c.answer for c in validation],
        )
        trainer = StudioTrainer(
            model=model,
            args=args,
            train_dataset=train_set,
            eval_dataset=eval_set if validation else None,
            data_collator=collator,
            compute_loss_func=loss,
            callbacks=[callback],
            studio_cfg=cfg,
            plan=plan,
            generation=generation if validation else None,
            on_generation=lambda prompts: self._score_generations(model, tokenizer, prompts, generation),
            emit=self.emit,
        )
        trainer.remove_callback(PrinterCallback)
        return trainer, callback

    def _batching(self, model: Any, tokenizer: Any) -> tuple[Any, Any]:
        """The collator and loss function: padding-free with trained-token logits when the model allows."""
        from studio_desktop.core.data.prepare import DataCollator
        from studio_desktop.core.training.packing import (
            PaddingFreeCollator,
            accepts_logits_to_keep,
            keeps_samples_apart,
            trained_token_loss,
        )

        if not self.cfg.training.padding_free:
            return DataCollator.for_tokenizer(tokenizer), None
        if not keeps_samples_apart(model):
            self.log(
                f"{self.cfg.llm_backbone} lets samples of a padding-free row attend to each other; "
                "training uses padded batches",
                "warning",
            )
            return DataCollator.for_tokenizer(tokenizer), None
        if accepts_logits_to_keep(model):
            return PaddingFreeCollator(keep_trained_logits_only=True), trained_token_loss
        return PaddingFreeCollator(keep_trained_logits_only=False), None

    def _score_generations(self, model: Any, tokenizer: Any, prompts: list[str], generation: Any) -> dict:
        from studio_desktop.core.evaluation import evaluate_generations, generate_answers, save_predictions

        batch = self.cfg.prediction.batch_size_inference or self.cfg.training.batch_size
        predictions = generate_answers(model, tokenizer, prompts, self.cfg.prediction, batch)
        metrics, frame = evaluate_generations(prompts, generation.references, predictions)
        save_predictions(frame, self.experiment.predictions_path)
        return {key.split("/", 1)[-1]: value for key, value in metrics.items()}


def final_metrics(trainer: Any) -> dict[str, float]:
    """The last value of every validation metric and the last training loss, from the Trainer's history."""
    from studio_desktop.core.training.callback import metric_name

    result: dict[str, float] = {}
    for entry in trainer.state.log_history:
        for key, value in entry.items():
            name = metric_name(key)
            if name and isinstance(value, (int, float)):
                result[name] = float(value)
    if "val/loss" in result:
        result["val/perplexity"] = math.exp(min(result["val/loss"], 50.0))
    return result
