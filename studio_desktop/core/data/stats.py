"""Dataset statistics: turns and token lengths of prompts and answers, from one tokenizer pass.

Each conversation is rendered once (``render_sample``) and each rendered text is tokenized once, with
character offsets. A token is an *answer* token when it overlaps a trained span of its sample (the text that
carries the loss), else a *prompt* token. So with ``only_last_answer`` earlier answers count as prompt, and
with ``mask_prompt_labels`` off every token counts as answer.

Turns are counted over every conversation; a sample of more than ``CHARS_PER_TOKEN_CAP * max_length``
characters is counted from that prefix (``capped_samples`` says how many: their counts are lower bounds).
Token lengths can be estimated from a fixed-size random sample of
conversations (``sample_size``): rendering and tokenizing is what costs, and a few thousand samples give the
same histograms and percentiles to within a token or two. ``token_samples`` says how many were tokenized.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.templates import RenderedSample, Segment, TemplateSettings, render_sample
from studio_desktop.core.data.tokenize import require_fast, tokenize_samples

STATISTICS_SAMPLE = 2000  # conversations tokenized for the token statistics of an import
#: Characters of a rendered sample that are tokenized per ``max_length`` token: a sample longer than
#: ``CHARS_PER_TOKEN_CAP * max_length`` characters is counted from that prefix (a token is rarely longer), so
#: one huge row costs no more than a long one and is still counted as longer than ``max_length``.
CHARS_PER_TOKEN_CAP = 32


@dataclass(frozen=True)
class Histogram:
    """Counts per bin; ``edges`` has one more entry than ``counts`` (as ``numpy.histogram`` returns)."""

    counts: tuple[int, ...]
    edges: tuple[float, ...]

    def to_dict(self) -> dict[str, list]:
        return {"counts": list(self.counts), "edges": list(self.edges)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        return cls(tuple(int(c) for c in data["counts"]), tuple(float(e) for e in data["edges"]))


@dataclass(frozen=True)
class LengthStatistics:
    """Summary and histogram of one per-sample token count."""

    min: int
    mean: float
    median: float
    p95: float
    max: int
    histogram: Histogram

    def to_dict(self) -> dict[str, Any]:
        return {
            "min": self.min,
            "mean": self.mean,
            "median": self.median,
            "p95": self.p95,
            "max": self.max,
            "histogram": self.histogram.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LengthStatistics:
        return cls(
            min=int(data["min"]),
            mean=float(data["mean"]),
            median=float(data["median"]),
            p95=float(data["p95"]),
            max=int(data["max"]),
            histogram=Histogram.from_dict(data["histogram"]),
        )


@dataclass(frozen=True)
class DatasetStatistics:
    """What a dataset looks like to one tokenizer and template.

    ``turns_histogram`` has one bin per number of turns (edges ``k, k+1``). The token statistics and
    ``truncated_share`` (the fraction of samples longer than ``max_length`` tokens) come from
    ``token_samples`` randomly chosen conversations: all of them when it equals ``conversations``.
    """

    conversations: int
    turns: int
    turns_histogram: Histogram
    prompt_tokens: LengthStatistics
    answer_tokens: LengthStatistics
    total_tokens: LengthStatistics
    truncated_share: float
    max_length: int
    tokenizer_name: str
    token_samples: int
    capped_samples: int = 0
    capped_chars: int = 0

    @property
    def estimated(self) -> bool:
        """Whether the token statistics come from a sample of the conversations."""
        return self.token_samples < self.conversations

    def to_dict(self) -> dict[str, Any]:
        """Plain ints, floats, strings, lists and dicts only (JSON-serialisable)."""
        return {
            "conversations": self.conversations,
            "turns": self.turns,
            "turns_histogram": self.turns_histogram.to_dict(),
            "prompt_tokens": self.prompt_tokens.to_dict(),
            "answer_tokens": self.answer_tokens.to_dict(),
            "total_tokens": self.total_tokens.to_dict(),
            "truncated_share": self.truncated_share,
            "max_length": self.max_length,
            "tokenizer_name": self.tokenizer_name,
            "token_samples": self.token_samples,
            "capped_samples": self.capped_samples,
            "capped_chars": self.capped_chars,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStatistics:
        return cls(
            conversations=int(data["conversations"]),
            turns=int(data["turns"]),
            turns_histogram=Histogram.from_dict(data["turns_histogram"]),
            prompt_tokens=LengthStatistics.from_dict(data["prompt_tokens"]),
            answer_tokens=LengthStatistics.from_dict(data["answer_tokens"]),
            total_tokens=LengthStatistics.from_dict(data["total_tokens"]),
            truncated_share=float(data["truncated_share"]),
            max_length=int(data["max_length"]),
            tokenizer_name=str(data["tokenizer_name"]),
            token_samples=int(data.get("token_samples", data["conversations"])),
            capped_samples=int(data.get("capped_samples", 0)),
            capped_chars=int(data.get("capped_chars", 0)),
        )


def compute_statistics(
    conversations: Sequence[Conversation],
    tokenizer: Any,
    settings: TemplateSettings,
    max_length: int,
    bins: int = 30,
    *,
    sample_size: int | None = None,
    seed: int = 0,
) -> DatasetStatistics:
    """Render and tokenize every conversation (or ``sample_size`` of them) once and summarise them.

    ``tokenizer`` must be a fast (Rust-backed) tokenizer: token offsets are needed. Answer tokens are the
    tokens training puts into the loss (``tokenize.trained_mask``).
    """
    if not conversations:
        raise ValueError("no conversations to compute statistics for")
    turns = np.fromiter((c.turns for c in conversations), dtype=np.int64, count=len(conversations))
    chosen = sample_indices(len(conversations), sample_size, seed)
    sample = conversations if chosen is None else [conversations[i] for i in chosen]
    return statistics_of_sample(turns, sample, tokenizer, settings, max_length=max_length, bins=bins)


def sample_indices(count: int, sample_size: int | None, seed: int) -> list[int] | None:
    """Sorted indices of ``sample_size`` of ``count`` items drawn at random, or ``None`` for all of them."""
    if sample_size is None or count <= sample_size:
        return None
    if sample_size < 1:
        raise ValueError("sample_size must be positive")
    return sorted(random.Random(seed).sample(range(count), sample_size))


def statistics_of_sample(
    turns: np.ndarray,
    sample: Sequence[Conversation],
    tokenizer: Any,
    settings: TemplateSettings,
    *,
    max_length: int,
    bins: int = 30,
) -> DatasetStatistics:
    """Statistics from the turns of every conversation and the token lengths of ``sample`` of them."""
    if not len(turns) or not sample:
        raise ValueError("no conversations to compute statistics for")
    if max_length < 1 or bins < 1:
        raise ValueError("max_length and bins must be positive")
    require_fast(tokenizer, "Dataset statistics")
    cap = CHARS_PER_TOKEN_CAP * max_length
    rendered = [render_sample(tokenizer, conversation, settings) for conversation in sample]
    capped_count = sum(1 for one in rendered if len(one.text) > cap)
    samples = [capped(one, cap) for one in rendered]
    totals, answers = [], []
    for chunk in tokenize_samples(tokenizer, samples):
        owner = np.repeat(np.arange(len(chunk.lengths)), chunk.lengths)
        totals.append(chunk.lengths)
        answers.append(
            np.bincount(owner, weights=chunk.trained, minlength=len(chunk.lengths)).astype(np.int64)
        )
    total_tokens = np.concatenate(totals)
    answer_tokens = np.concatenate(answers)
    turn_edges = np.arange(turns.min(), turns.max() + 2)
    turn_counts, _ = np.histogram(turns, bins=turn_edges)
    return DatasetStatistics(
        conversations=len(turns),
        turns=int(turns.sum()),
        turns_histogram=_histogram(turn_counts, turn_edges),
        prompt_tokens=length_statistics(total_tokens - answer_tokens, bins),
        answer_tokens=length_statistics(answer_tokens, bins),
        total_tokens=length_statistics(total_tokens, bins),
        truncated_share=float(np.mean(total_tokens > max_length)),
        max_length=int(max_length),
        tokenizer_name=str(getattr(tokenizer, "name_or_path", "") or ""),
        token_samples=len(sample),
        capped_samples=capped_count,
        capped_chars=cap if capped_count else 0,
    )


def capped(sample: RenderedSample, cap: int) -> RenderedSample:
    """``sample`` cut to its first ``cap`` characters (its segments cut with it)."""
    if len(sample.text) <= cap:
        return sample
    segments, left = [], cap
    for segment in sample.segments:
        if left <= 0:
            break
        segments.append(Segment(segment.text[:left], segment.trained))
        left -= len(segment.text)
    return RenderedSample(sample.text[:cap], tuple(segments))


def length_statistics(values: np.ndarray, bins: int) -> LengthStatistics:
    """Summary and histogram of per-sample counts."""
    counts, edges = np.histogram(values, bins=bins)
    return LengthStatistics(
        min=int(values.min()),
        mean=float(values.mean()),
        median=float(np.median(values)),
        p95=float(np.percentile(values, 95)),
        max=int(values.max()),
        histogram=_histogram(counts, edges),
    )


def _histogram(counts: np.ndarray, edges: np.ndarray) -> Histogram:
    return Histogram(tuple(int(c) for c in counts), tuple(float(e) for e in edges))
