"""Validation of generative models: batched answer generation, BLEU, ROUGE-L and perplexity.

Scores compare whole answers. Two texts that are identical after stripping whitespace always score the
maximum (BLEU 100, ROUGE-L 1), two empty texts included; an empty text against a non-empty one scores 0.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_desktop.core.config_sections import PredictionSection

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[int, int], None]
"""Called with ``(done, total)`` prompts after each generated batch."""

METRIC_KEYS = {"Perplexity": "val/perplexity", "BLEU": "val/bleu", "ROUGE-L": "val/rouge_l"}
HIGHER_IS_BETTER = {"Perplexity": False, "BLEU": True, "ROUGE-L": True}
PREDICTION_COLUMNS = ("prompt", "target", "prediction", "bleu", "rouge_l")

_MAX_EXP_ARG = math.log(1.7976931348623157e308)
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One token per ideograph or kana; otherwise runs of letters and digits in any script.
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")


def sentence_bleu_scores(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-answer sacreBLEU (0–100, effective n-gram order, exponential smoothing)."""
    import sacrebleu

    _check_lengths(predictions, references)
    scores = []
    for prediction, reference in zip(predictions, references, strict=True):
        special = _special_case(prediction, reference, 100.0)
        if special is None:
            special = float(sacrebleu.sentence_bleu(prediction, [reference]).score)
        scores.append(min(special, 100.0))
    return scores


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacreBLEU over all answers together (0–100); 0 for no answers."""
    import sacrebleu

    _check_lengths(predictions, references)
    if not predictions:
        return 0.0
    return min(float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score), 100.0)


def rouge_l_scores(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-answer ROUGE-L F-measure (0–1) on lower-cased words of any script."""
    _check_lengths(predictions, references)
    scorer = _rouge_scorer()
    scores = []
    for prediction, reference in zip(predictions, references, strict=True):
        special = _special_case(prediction, reference, 1.0)
        if special is None:
            special = float(scorer.score(reference, prediction)["rougeL"].fmeasure)
        scores.append(special)
    return scores


def perplexity(mean_loss: float) -> float:
    """``exp(mean_loss)``; ``inf`` where that overflows a float."""
    if math.isnan(mean_loss):
        return math.nan
    if mean_loss > _MAX_EXP_ARG:
        return float("inf")
    return math.exp(mean_loss)


def stop_strings(prediction_section: PredictionSection) -> list[str]:
    """The texts that end an answer: ``stop_tokens`` split at commas, surrounding spaces removed."""
    parts = (part.strip(" ") for part in prediction_section.stop_tokens.split(","))
    return list(dict.fromkeys(part for part in parts if part))


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` up to (without) the earliest occurrence of any stop string."""
    positions = [index for index in (text.find(stop) for stop in stops if stop) if index >= 0]
    return text[: min(positions)] if positions else text


def generation_kwargs(prediction_section: PredictionSection, tokenizer: Any, model: Any = None) -> dict:
    """``generate()`` arguments for the prediction settings.

    Greedy unless ``do_sample`` with a positive temperature. Stop strings go to ``stop_strings`` (with the
    tokenizer) so generation halts early; callers still cut the decoded text with ``cut_at_stop``. With
    ``model``, its generation config's end-of-sequence ids are kept next to the tokenizer's.
    """
    section = prediction_section
    kwargs: dict[str, Any] = {
        "max_new_tokens": section.max_length_inference,
        "num_beams": section.num_beams,
        "repetition_penalty": section.repetition_penalty,
    }
    minimum = min(section.min_length_inference, section.max_length_inference)
    if minimum > 0:
        kwargs["min_new_tokens"] = minimum
    sampling = section.do_sample and section.temperature > 0
    kwargs["do_sample"] = sampling
    if sampling:
        kwargs.update(temperature=section.temperature, top_k=section.top_k, top_p=section.top_p)
    if section.max_time > 0:
        kwargs["max_time"] = section.max_time
    eos_ids = _eos_ids(tokenizer, model)
    if eos_ids:
        kwargs["eos_token_id"] = eos_ids if len(eos_ids) > 1 else eos_ids[0]
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None and eos_ids:
        pad_id = eos_ids[0]
    if pad_id is not None:
        kwargs["pad_token_id"] = pad_id
    stops = stop_strings(section)
    if stops:
        kwargs.update(stop_strings=stops, tokenizer=tokenizer)
    return kwargs


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    prediction_section: PredictionSection,
    batch_size: int,
    *,
    progress: Progress | None = None,
) -> list[str]:
    """The answer to each rendered prompt, in order: new text only, cut at the first stop string, stripped.

    Prompts are tokenized without special tokens (the template already wrote them), grouped by length into
    batches of ``batch_size`` and padded on the left. The model runs in eval mode on its own device; its
    training mode is restored afterwards.
    """
    import torch

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    kwargs = generation_kwargs(prediction_section, tokenizer, model)
    stops = stop_strings(prediction_section)
    encoded = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)
    answers = [""] * len(encoded)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                input_ids, attention_mask = _left_pad([encoded[i] for i in chunk], kwargs.get("pad_token_id"))
                device = model_device(model)
                output = model.generate(
                    input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs
                )
                texts = tokenizer.batch_decode(output[:, input_ids.shape[1] :], skip_special_tokens=True)
                for index, text in zip(chunk, texts, strict=True):
                    answers[index] = cut_at_stop(text, stops).strip()
                if progress is not None:
                    progress(min(start + batch_size, len(order)), len(order))
    finally:
        model.train(was_training)
    return answers


@dataclass(frozen=True)
class ValidationReport:
    """One validation pass: mean loss, metric values by key (``val/...``) and per-answer predictions."""

    loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None

    def score(self, metric: str) -> float:
        """The value of a ``prediction.metric`` choice (``Perplexity``, ``BLEU``, ``ROUGE-L``)."""
        if metric == "Perplexity":
            return self.metrics.get(METRIC_KEYS[metric], perplexity(self.loss))
        if metric not in METRIC_KEYS:
            raise ValueError(f"metric {metric!r} is not computed offline")
        return self.metrics[METRIC_KEYS[metric]]

    def is_better_than(self, other: ValidationReport | None, metric: str) -> bool:
        """Whether this report beats ``other`` (``None``: always) on ``metric``."""
        if other is None:
            return True
        mine, theirs = self.score(metric), other.score(metric)
        return mine > theirs if HIGHER_IS_BETTER[metric] else mine < theirs


def evaluate_generations(
    prompts: Sequence[str], references: Sequence[str], predictions: Sequence[str]
) -> tuple[dict[str, float], pd.DataFrame]:
    """Mean per-answer BLEU and ROUGE-L, and a table of every prompt, target, prediction and score."""
    import pandas as pd

    _check_lengths(predictions, references)
    _check_lengths(prompts, references)
    bleu = sentence_bleu_scores(predictions, references)
    rouge = rouge_l_scores(predictions, references)
    count = max(len(bleu), 1)
    metrics = {"val/bleu": sum(bleu) / count, "val/rouge_l": sum(rouge) / count}
    frame = pd.DataFrame(
        {
            "prompt": list(prompts),
            "target": list(references),
            "prediction": list(predictions),
            "bleu": bleu,
            "rouge_l": rouge,
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return metrics, frame


def save_predictions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as a UTF-8 CSV without the index; a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".predictions-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            # Every text is quoted: a generated text may hold a lone carriage return, which unquoted ends the
            # row for CSV readers.
            frame.to_csv(handle, index=False, quoting=csv.QUOTE_NONNUMERIC)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_lengths(first: Sequence[str], second: Sequence[str]) -> None:
    if len(first) != len(second):
        raise ValueError(f"got {len(first)} texts to compare with {len(second)}")


def _special_case(prediction: str, reference: str, best: float) -> float | None:
    """The score of identical or empty texts, or ``None`` when the metric must decide."""
    if prediction.strip() == reference.strip():
        return best
    if not prediction.strip() or not reference.strip():
        return 0.0
    return None


class _WordTokenizer:
    """Lower-cased words of any script for rouge-score (its default keeps ASCII letters and digits only)."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


@functools.cache
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_WordTokenizer())


def _eos_ids(tokenizer: Any, model: Any) -> list[int]:
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (getattr(tokenizer, "eos_token_id", None), configured):
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, int) and item not in ids:
                ids.append(item)
    return ids


def _left_pad(sequences: list[list[int]], pad_id: int | None) -> tuple[Any, Any]:
    """Input ids and attention mask with every sequence right-aligned."""
    import torch

    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id if pad_id is not None else 0, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            input_ids[row, width - len(sequence) :] = torch.tensor(sequence, dtype=torch.long)
            attention_mask[row, width - len(sequence) :] = 1
    return input_ids, attention_mask


def model_device(model: Any) -> Any:
    """The device that holds the model's weights."""
    device = getattr(model, "device", None)
    return device if device is not None else next(model.parameters()).device
