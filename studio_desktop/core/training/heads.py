"""Classification (``text_causal_classification_modeling``) and regression
(``text_causal_regression_modeling``).

As in H2O LLM Studio, the backbone (LoRA or full) reads the rendered prompt (system, question, assistant
cue) and a linear head on the last token's hidden state (transformers' ``...ForSequenceClassification``)
gives the outputs: one logit for binary labels (BinaryCrossEntropyLoss), one per label column for multilabel
data (BinaryCrossEntropyLoss, ``num_classes`` columns), ``num_classes`` logits for one label of several
classes (CrossEntropyLoss), or one value per target (MSELoss, MAELoss). A prompt longer than ``max_length``
keeps its end, where the question and the cue are. Validation reports AUC, accuracy and log loss, or MSE and
MAE, and writes every validation row's probabilities or values with its error to the predictions table, the
worst first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.targets import (
    MULTICLASS_LOSS,
    DataSource,
    HeadTask,
    check_targets,
    parse_targets,
)
from studio_desktop.core.head_metrics import head_metrics, scores
from studio_desktop.core.head_shape import HeadShape
from studio_desktop.core.problem_types import REGRESSION
from studio_desktop.core.training.recipe import RunSetup, TrainerRun


def head_task(problem_type: str, loss: str, num_classes: int, width: int) -> HeadTask:
    """The task of a run: regression predicts ``width`` targets; classification ``num_classes`` logits
    (CrossEntropyLoss) or one per label column (BinaryCrossEntropyLoss: 1 for binary data)."""
    if problem_type == REGRESSION:
        return HeadTask(regression=True, loss=loss, outputs=width)
    return HeadTask(regression=False, loss=loss, outputs=num_classes)


def output_names(task: HeadTask, source: DataSource) -> tuple[str, ...]:
    """A name per output: the class numbers of multiclass data, else the answer columns' names."""
    if task.multiclass:
        return tuple(str(label) for label in range(task.outputs))
    return tuple(source.column(index) for index in range(task.outputs))


@dataclass(frozen=True)
class HeadSample:
    """One prompt's token ids and its targets."""

    input_ids: list[int]
    targets: list[float]


class HeadDataset:
    """Tokenised prompts with their targets, as the Trainer reads them."""

    def __init__(self, samples: Sequence[HeadSample]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, list]:
        sample = self.samples[index]
        return {"input_ids": sample.input_ids, "labels": sample.targets}


@dataclass(frozen=True)
class HeadData:
    """The task, the training and validation sets, and what the predictions table shows per row."""

    task: HeadTask
    names: tuple[str, ...]
    train: HeadDataset
    validation: HeadDataset | None
    texts: list[str]
    targets: np.ndarray


class HeadCollator:
    """Pads a batch on the right (the head finds each row's last non-pad token); targets become a float
    tensor of (rows, numbers), or class indices for CrossEntropyLoss."""

    def __init__(self, pad_token_id: int, multiclass: bool) -> None:
        self.pad_token_id = pad_token_id
        self.multiclass = multiclass

    def __call__(self, features: Sequence[dict[str, list]]) -> dict[str, Any]:
        import torch

        from studio_desktop.core.training.packing import pad_on_the_right

        ids, mask = pad_on_the_right([feature["input_ids"] for feature in features], self.pad_token_id)
        labels = torch.tensor([feature["labels"] for feature in features], dtype=torch.float32)
        if self.multiclass:
            labels = labels[:, 0].long()
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def head_loss(loss: str, logits: Any, labels: Any) -> Any:
    """The batch's mean loss of ``loss`` (computed in float32)."""
    import torch.nn.functional as F  # noqa: N812

    logits = logits.float()
    functions = {
        "BinaryCrossEntropyLoss": lambda: F.binary_cross_entropy_with_logits(logits, labels.float()),
        MULTICLASS_LOSS: lambda: F.cross_entropy(logits, labels.long()),
        "MSELoss": lambda: F.mse_loss(logits, labels.float()),
        "MAELoss": lambda: F.l1_loss(logits, labels.float()),
    }
    return functions[loss]()


def predictions_table(
    task: HeadTask, names: Sequence[str], texts: Sequence[str], logits: np.ndarray, targets: np.ndarray
) -> Any:
    """A row per validation sample: its text, target(s), probabilities or predicted values and its error
    (1 - the probability of the true class; the mean absolute difference otherwise), the worst first."""
    import pandas as pd

    predicted = scores(task, logits)
    columns: dict[str, Any] = {"text": list(texts)}
    if task.multiclass:
        labels = targets[:, 0].astype(int)
        columns["target"] = labels
        columns["predicted"] = predicted.argmax(axis=1)
        for index, name in enumerate(names):
            columns[f"p({name})"] = predicted[:, index]
        error = 1.0 - predicted[np.arange(len(labels)), labels]
    else:
        for index, name in enumerate(names):
            suffix = f" {name}" if len(names) > 1 else ""
            columns[f"target{suffix}"] = targets[:, index]
            columns[f"prediction{suffix}" if task.regression else f"p({name})"] = predicted[:, index]
        error = np.abs(predicted - targets).mean(axis=1)
    columns["error"] = error
    frame = pd.DataFrame(columns)
    return frame.sort_values("error", ascending=False, kind="stable").reset_index(drop=True)


class HeadRecipe:
    """Builds the head datasets and trainer of classification and regression runs."""

    def build_datasets(
        self, setup: RunSetup, tokenizer: Any, train: list[Conversation], validation: list[Conversation]
    ) -> HeadData:
        from studio_desktop.core.data.prepare import generation_prompts, template_settings

        cfg = setup.cfg
        train_values = parse_targets(train, setup.train_source)
        validation_values = parse_targets(validation, setup.validation_source)
        task = head_task(
            cfg.problem_type, cfg.training.loss_function, cfg.dataset.num_classes, train_values.shape[1]
        )
        for warning in check_targets(train_values, train, task, setup.train_source):
            setup.log(warning, "warning")
        if validation:
            check_targets(validation_values, validation, task, setup.validation_source)
        settings = template_settings(cfg.dataset)
        max_length = cfg.tokenizer.max_length

        def encode(conversations: list[Conversation], values: np.ndarray) -> HeadDataset:
            prompts = generation_prompts(tokenizer, conversations, settings)
            encoded = tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []
            return HeadDataset(
                HeadSample(ids[-max_length:], row.tolist()) for ids, row in zip(encoded, values, strict=True)
            )

        return HeadData(
            task=task,
            names=output_names(task, setup.train_source),
            train=encode(train, train_values),
            validation=encode(validation, validation_values) if validation else None,
            texts=[c.prompt_messages[-1].content for c in validation],
            targets=validation_values,
        )

    def model_head(self, data: HeadData) -> HeadShape:
        return HeadShape(data.task.outputs, data.task.hf_problem_type, data.names)

    def build_trainer(self, setup: RunSetup, model: Any, tokenizer: Any, data: HeadData) -> TrainerRun:
        from transformers import PrinterCallback

        from studio_desktop.core.evaluation import save_predictions
        from studio_desktop.core.training.callback import EventCallback, started_fields
        from studio_desktop.core.training.trainer import HeadTrainer, run_arguments

        model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last token before padding
        has_eval = data.validation is not None
        args, plan = run_arguments(
            setup, len(data.train), has_eval=has_eval, padded=True, label_names=["labels"]
        )

        def compute_metrics(prediction: Any) -> dict[str, float]:
            logits = np.asarray(prediction.predictions, dtype=np.float64).reshape(len(data.targets), -1)
            table = predictions_table(data.task, data.names, data.texts, logits, data.targets)
            save_predictions(table, setup.paths.predictions)
            return head_metrics(data.task, logits, data.targets)

        validation = data.validation or []
        callback = EventCallback.for_run(
            setup, started_fields(setup, model, data.train, validation), perplexity=False
        )
        trainer = HeadTrainer(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.validation,
            data_collator=HeadCollator(tokenizer.pad_token_id, data.task.multiclass),
            compute_metrics=compute_metrics if has_eval else None,
            callbacks=[callback],
            loss=data.task.loss,
        )
        trainer.attach_studio(studio_cfg=setup.cfg, plan=plan, emit=setup.sink.emit)
        trainer.remove_callback(PrinterCallback)
        return TrainerRun(trainer, callback)


RECIPE = HeadRecipe()
