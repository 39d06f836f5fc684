"""Tokenizing rendered samples once, with the tokens that fall inside trained spans marked.

Statistics and training data share this, so the answer tokens counted at import are exactly the tokens
that training puts into the loss: a token is trained when its characters lie entirely inside a trained span.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from studio_desktop.core.data.templates import RenderedSample
from studio_desktop.core.errors import StudioError

TOKENIZE_CHUNK_CHARS = 8_000_000


@dataclass(frozen=True)
class TokenizedChunk:
    """Token ids and offsets of consecutive samples; ``trained`` is one flag per token, samples in order."""

    input_ids: list[list[int]]
    offsets: list[list[tuple[int, int]]]
    lengths: np.ndarray
    trained: np.ndarray


def require_fast(tokenizer: Any, purpose: str) -> None:
    """Offsets need a fast (Rust-backed) tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise StudioError(f"{purpose} need a fast tokenizer (one backed by the tokenizers library).")


def chunk_samples(samples: Sequence[RenderedSample], budget: int) -> Iterator[Sequence[RenderedSample]]:
    """Consecutive runs of samples of at most ``budget`` characters (at least one sample each)."""
    start = size = 0
    for i, sample in enumerate(samples):
        if size and size + len(sample.text) > budget:
            yield samples[start:i]
            start, size = i, 0
        size += len(sample.text)
    if samples:
        yield samples[start:]


def tokenize_samples(tokenizer: Any, samples: Sequence[RenderedSample]) -> Iterator[TokenizedChunk]:
    """Tokenize every text once, one batched call per ``TOKENIZE_CHUNK_CHARS`` characters."""
    for chunk in chunk_samples(samples, TOKENIZE_CHUNK_CHARS):
        encoding = tokenizer(
            [sample.text for sample in chunk],
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        offsets = encoding["offset_mapping"]
        lengths = np.fromiter(map(len, offsets), dtype=np.int64, count=len(chunk))
        yield TokenizedChunk(encoding["input_ids"], offsets, lengths, trained_mask(chunk, offsets, lengths))


def trained_mask(
    samples: Sequence[RenderedSample], offsets: Sequence[Sequence[Any]], lengths: np.ndarray
) -> np.ndarray:
    """For every token of every sample, in order: whether it lies inside a trained span of its text."""
    flat = np.fromiter(
        chain.from_iterable(chain.from_iterable(offsets)), dtype=np.int64, count=2 * int(lengths.sum())
    ).reshape(-1, 2)
    # Place every text on one axis, one after the other, so that all spans form one sorted, disjoint list.
    text_lengths = np.fromiter((len(sample.text) for sample in samples), dtype=np.int64, count=len(samples))
    text_base = np.cumsum(text_lengths) - text_lengths
    token_base = np.repeat(text_base, lengths)
    token_start = flat[:, 0] + token_base
    token_end = flat[:, 1] + token_base
    spans = np.array(
        [
            (offset + start, offset + end)
            for offset, sample in zip(text_base.tolist(), samples, strict=True)
            for start, end in sample.trained_char_spans
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    if not len(spans):
        return np.zeros(len(flat), dtype=bool)
    # The last span starting at or before a token's start is the only one that can contain the token.
    candidate = np.searchsorted(spans[:, 0], token_start, side="right") - 1
    return (candidate >= 0) & (token_end <= spans[np.maximum(candidate, 0), 1])
