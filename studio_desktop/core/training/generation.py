"""Validation answers generated at each evaluation and scored against the references (every recipe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from studio_desktop.core.training.recipe import RunSetup


def score_generations(
    setup: RunSetup, model: Any, tokenizer: Any, prompts: list[str], references: Sequence[str]
) -> dict[str, float]:
    """Generate validation answers, save the predictions table, return the scores without prefix."""
    from studio_desktop.core.evaluation import evaluate_generations, generate_answers, save_predictions

    cfg = setup.cfg
    batch = cfg.prediction.batch_size_inference or cfg.training.batch_size
    predictions = generate_answers(model, tokenizer, prompts, cfg.prediction, batch)
    metrics, frame = evaluate_generations(prompts, list(references), predictions)
    save_predictions(frame, setup.paths.predictions)
    return {key.split("/", 1)[-1]: value for key, value in metrics.items()}
