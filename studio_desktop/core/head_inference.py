"""What a classification or regression model says about a typed text: the predicted class with the
probabilities, or the predicted value(s), as a line for the chat."""

from __future__ import annotations

from typing import Any

import numpy as np

from studio_desktop.core.data.targets import HeadTask
from studio_desktop.core.head_metrics import scores
from studio_desktop.core.problem_types import REGRESSION

SHOWN_CLASSES = 5


def model_task(problem_type: str, loss: str, model: Any) -> tuple[HeadTask, tuple[str, ...]]:
    """The task of a loaded head model and the name of each output (its config's ``id2label``)."""
    config = model.config
    task = HeadTask(regression=problem_type == REGRESSION, loss=loss, outputs=config.num_labels)
    names = tuple(str(config.id2label[index]) for index in range(config.num_labels))
    return task, names


def head_logits(model: Any, tokenizer: Any, prompt: str, max_length: int | None = None) -> np.ndarray:
    """The head's outputs for the rendered ``prompt`` (kept from its end when longer than ``max_length``)."""
    import torch

    from studio_desktop.core.evaluation import model_device

    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if max_length:
        ids = ids[-max_length:]
    inputs = torch.tensor([ids], dtype=torch.long, device=model_device(model))
    with torch.inference_mode():
        logits = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).logits
    return logits.float().cpu().numpy()[0]


def describe_prediction(task: HeadTask, names: tuple[str, ...], logits: np.ndarray) -> str:
    """The prediction as text: ``class 2 (p 0.81) · 0: 0.12 · 1: 0.07`` for one label of several classes,
    ``label: 1 (p 0.93)`` per label column for binary and multilabel data, ``value 3.2`` for regression."""
    values = scores(task, np.asarray(logits).reshape(1, -1))[0]
    if task.regression:
        if len(values) == 1:
            return f"Predicted value: {values[0]:.4g}"
        return "Predicted values: " + " · ".join(f"{n} {v:.4g}" for n, v in zip(names, values, strict=True))
    if task.multiclass:
        order = np.argsort(-values)
        best = order[0]
        others = " · ".join(f"{names[i]}: {values[i]:.3f}" for i in order[1:SHOWN_CLASSES])
        line = f"Predicted class: {names[best]} (probability {values[best]:.3f})"
        return f"{line} · {others}" if others else line
    parts = [
        f"{name}: {int(p >= 0.5)} (probability of 1: {p:.3f})" for name, p in zip(names, values, strict=True)
    ]
    return "Predicted " + " · ".join(parts)
