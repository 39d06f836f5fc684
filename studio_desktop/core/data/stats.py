"""Dataset statistics: turns and token lengths of prompts and answers, from one tokenizer pass.

Each conversation is rendered once (``render_sample``) and each rendered text is tokenized once, with
character offsets. A token is an *answer* token when it overlaps a trained span of its sample (the text that
carries the loss), else a *prompt* token. So with ``only_last_answer`` earlier answers count as prompt, and
with ``mask_prompt_labels`` off every token counts as answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.templates import RenderedSample, TemplateSettings, render_sample
from studio_desktop.core.errors import StudioError

# Characters of text per tokenizer call (about 2M tokens): bounds the memory of the Python offset lists the
# tokenizer returns, while each call is still large enough for the tokenizer to use all cores.
TOKENIZE_CHUNK_CHARS = 8_000_000


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

    ``turns_histogram`` has one bin per number of turns (edges ``k, k+1``). ``truncated_share`` is the
    fraction of samples longer than ``max_length`` tokens.
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
        )


def compute_statistics(
    conversations: Sequence[Conversation],
    tokenizer: Any,
    settings: TemplateSettings,
    max_length: int,
    bins: int = 30,
) -> DatasetStatistics:
    """Render and tokenize every conversation once and summarise turns and token lengths.

    ``tokenizer`` must be a fast (Rust-backed) tokenizer: token offsets are needed. Texts go to the tokenizer
    in one batched call per ``TOKENIZE_CHUNK_CHARS`` characters, so most datasets take a single call.
    """
    if not conversations:
        raise ValueError("no conversations to compute statistics for")
    if max_length < 1 or bins < 1:
        raise ValueError("max_length and bins must be positive")
    if not getattr(tokenizer, "is_fast", False):
        raise StudioError("Dataset statistics need a fast tokenizer (one backed by the tokenizers library).")
    samples = [render_sample(tokenizer, conversation, settings) for conversation in conversations]
    totals, answers = [], []
    for chunk in _chunks(samples, TOKENIZE_CHUNK_CHARS):
        total, answer = _count_tokens(tokenizer, chunk)
        totals.append(total)
        answers.append(answer)
    total_tokens = np.concatenate(totals)
    answer_tokens = np.concatenate(answers)
    turns = np.fromiter((c.turns for c in conversations), dtype=np.int64, count=len(conversations))
    turn_edges = np.arange(turns.min(), turns.max() + 2)
    turn_counts, _ = np.histogram(turns, bins=turn_edges)
    return DatasetStatistics(
        conversations=len(conversations),
        turns=int(turns.sum()),
        turns_histogram=_histogram(turn_counts, turn_edges),
        prompt_tokens=_length_statistics(total_tokens - answer_tokens, bins),
        answer_tokens=_length_statistics(answer_tokens, bins),
        total_tokens=_length_statistics(total_tokens, bins),
        truncated_share=float(np.mean(total_tokens > max_length)),
        max_length=int(max_length),
        tokenizer_name=str(getattr(tokenizer, "name_or_path", "") or ""),
    )


def _chunks(samples: Sequence[RenderedSample], budget: int) -> Iterator[Sequence[RenderedSample]]:
    """Consecutive runs of samples of at most ``budget`` characters (at least one sample each)."""
    start = size = 0
    for i, sample in enumerate(samples):
        if size and size + len(sample.text) > budget:
            yield samples[start:i]
            start, size = i, 0
        size += len(sample.text)
    yield samples[start:]


def _count_tokens(tokenizer: Any, samples: Sequence[RenderedSample]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens per sample and, of those, tokens overlapping a trained span; one tokenizer call."""
    encoding = tokenizer(
        [sample.text for sample in samples],
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    offsets = encoding["offset_mapping"]
    n = len(samples)
    lengths = np.fromiter(map(len, offsets), dtype=np.int64, count=n)
    flat = np.fromiter(
        chain.from_iterable(chain.from_iterable(offsets)), dtype=np.int64, count=2 * int(lengths.sum())
    ).reshape(-1, 2)
    # Place every sample on one axis, one after the other, so that all spans form one sorted, disjoint list.
    text_lengths = np.fromiter((len(sample.text) for sample in samples), dtype=np.int64, count=n)
    base = np.concatenate(([0], np.cumsum(text_lengths)[:-1]))
    token_base = np.repeat(base, lengths)
    token_start = flat[:, 0] + token_base
    token_end = flat[:, 1] + token_base
    spans = [
        (offset + start, offset + end)
        for offset, sample in zip(base.tolist(), samples, strict=True)
        for start, end in sample.trained_char_spans
    ]
    span_array = np.array(spans, dtype=np.int64).reshape(-1, 2)
    # Spans starting before a token's end, minus spans ending at or before its start = spans overlapping it.
    overlapping = np.searchsorted(span_array[:, 0], token_end, side="left") - np.searchsorted(
        span_array[:, 1], token_start, side="right"
    )
    sample_of_token = np.repeat(np.arange(n), lengths)
    answer = np.bincount(sample_of_token, weights=overlapping > 0, minlength=n).astype(np.int64)
    return lengths, answer


def _length_statistics(values: np.ndarray, bins: int) -> LengthStatistics:
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
