"""Token counts of a raw-text dataset (continued pretraining): documents, tokens and ``max_length`` blocks.

Tokens are counted on a random sample of ``STATISTICS_SAMPLE`` documents, each from at most
``SAMPLE_CHARS`` characters; the total is the characters of every document times the tokens per character
of what was counted (exact when nothing was sampled or cut). Training packs the documents, an end-of-text
token after each, into blocks of ``max_length`` tokens, so the blocks are about (tokens + documents) /
``max_length``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio_desktop.core.data.documents import Document
from studio_desktop.core.data.stats import (
    STATISTICS_SAMPLE,
    LengthStatistics,
    length_statistics,
    sample_indices,
)

SAMPLE_CHARS = 200_000


@dataclass(frozen=True)
class TextStatistics:
    """What a raw-text dataset holds, to one tokenizer."""

    documents: int
    characters: int
    tokens: int
    blocks: int
    document_tokens: LengthStatistics
    max_length: int
    tokenizer_name: str
    token_samples: int
    estimated: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; ``kind`` tells them from a conversation dataset's statistics."""
        return {
            "kind": "text",
            "documents": self.documents,
            "characters": self.characters,
            "tokens": self.tokens,
            "blocks": self.blocks,
            "document_tokens": self.document_tokens.to_dict(),
            "max_length": self.max_length,
            "tokenizer_name": self.tokenizer_name,
            "token_samples": self.token_samples,
            "estimated": self.estimated,
        }


def text_statistics(
    documents: Sequence[Document],
    tokenizer: Any,
    max_length: int,
    *,
    sample_size: int = STATISTICS_SAMPLE,
    seed: int = 0,
    bins: int = 30,
) -> TextStatistics:
    """Documents, characters, (estimated) tokens and blocks of ``documents``."""
    if not documents:
        raise ValueError("no documents to count")
    chosen = sample_indices(len(documents), sample_size, seed)
    sample = documents if chosen is None else [documents[i] for i in chosen]
    prefixes = [document.text[:SAMPLE_CHARS] for document in sample]
    encoded = tokenizer(prefixes, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    counted = np.array([len(ids) for ids in encoded], dtype=np.float64)
    lengths = np.array([len(document.text) for document in sample], dtype=np.float64)
    prefix_lengths = np.array([len(prefix) for prefix in prefixes], dtype=np.float64)
    per_char = counted.sum() / max(prefix_lengths.sum(), 1.0)
    # A document cut for counting is estimated from its own prefix's tokens per character.
    document_tokens = np.where(
        lengths > prefix_lengths, counted * lengths / np.maximum(prefix_lengths, 1), counted
    )
    characters = sum(len(document.text) for document in documents)
    estimated = chosen is not None or bool((lengths > prefix_lengths).any())
    tokens = round(characters * per_char) if estimated else int(counted.sum())
    return TextStatistics(
        documents=len(documents),
        characters=characters,
        tokens=tokens,
        blocks=math.ceil((tokens + len(documents)) / max_length),
        document_tokens=length_statistics(np.rint(document_tokens).astype(np.int64), bins),
        max_length=max_length,
        tokenizer_name=str(getattr(tokenizer, "name_or_path", "") or ""),
        token_samples=len(sample),
        estimated=estimated,
    )
