"""Conversations → token ids and labels for causal-LM training, a collator and a dataset for the trainer.

Each conversation is rendered once (``render_sample``) and each rendered text is tokenized once, with
character offsets, in batched calls. A token is trained (its label is its id) when its character span lies
inside a trained span of the text; every other token has the label ``-100`` (no loss). A token that straddles
the border of a trained span is therefore not trained.

``TokenizedDataset`` subclasses ``torch.utils.data.Dataset``; the class is built on first access so that
importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from studio_desktop.core.config_sections import DatasetSection
from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.templates import RenderedSample, TemplateSettings, render_prompt, render_sample
from studio_desktop.core.data.tokenize import TokenizedChunk, require_fast, tokenize_samples
from studio_desktop.core.errors import StudioError

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100


def template_settings(dataset: DatasetSection) -> TemplateSettings:
    """The template settings that ``dataset`` selects."""
    return TemplateSettings(
        use_chat_template=dataset.use_chat_template,
        text_system_start=dataset.text_system_start,
        text_prompt_start=dataset.text_prompt_start,
        text_answer_separator=dataset.text_answer_separator,
        add_eos_token_to_system=dataset.add_eos_token_to_system,
        add_eos_token_to_prompt=dataset.add_eos_token_to_prompt,
        add_eos_token_to_answer=dataset.add_eos_token_to_answer,
        mask_prompt_labels=dataset.mask_prompt_labels,
        only_last_answer=dataset.only_last_answer,
    )


@dataclass(frozen=True, slots=True)
class EncodedSample:
    """Token ids of one training sample and their labels (``-100`` where no loss is computed)."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def trained_tokens(self) -> int:
        """Number of tokens that carry the loss."""
        return sum(label != IGNORE_INDEX for label in self.labels)

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_conversations(
    tokenizer: Any, conversations: Sequence[Conversation], settings: TemplateSettings, max_length: int
) -> list[EncodedSample]:
    """Render, tokenize, label and truncate every conversation; one sample per conversation, in order.

    ``tokenizer`` must be a fast (Rust-backed) tokenizer: token offsets are needed. Texts are tokenized
    without added special tokens (the rendered text already holds them) in one batched call per
    ``TOKENIZE_CHUNK_CHARS`` characters. Samples longer than ``max_length`` are truncated as
    ``truncate_sample`` describes.
    """
    if max_length < 1:
        raise ValueError("max_length must be positive")
    require_fast(tokenizer, "Training data")
    rendered = [render_sample(tokenizer, conversation, settings) for conversation in conversations]
    samples: list[EncodedSample] = []
    position = 0
    for chunk in tokenize_samples(tokenizer, rendered):
        count = len(chunk.lengths)
        samples.extend(_encode_chunk(rendered[position : position + count], chunk, max_length))
        position += count
    return samples


def _encode_chunk(
    samples: Sequence[RenderedSample], chunk: TokenizedChunk, max_length: int
) -> list[EncodedSample]:
    """Label and truncate the tokens of ``samples``."""
    encoded = []
    position = 0
    for sample, ids, sample_offsets in zip(samples, chunk.input_ids, chunk.offsets, strict=True):
        mask = chunk.trained[position : position + len(ids)]
        position += len(ids)
        ids_array = np.asarray(ids, dtype=np.int64)
        labels = np.where(mask, ids_array, IGNORE_INDEX)
        start = _final_answer_start(sample, sample_offsets, mask)
        encoded.append(truncate_sample(ids_array.tolist(), labels.tolist(), start, max_length))
    return encoded


def _final_answer_start(sample: RenderedSample, offsets: Sequence[Any], trained: np.ndarray) -> int:
    """Index of the first token of the final answer: from the last trained segment to the end of the text.

    That is the token count when nothing is trained. The final answer always begins at or before the last
    trained token, so right-truncating it keeps a trained token.
    """
    position = len(sample.text)
    answer_char = None
    for segment in reversed(sample.segments):
        position -= len(segment.text)
        if segment.trained:
            answer_char = position
            break
    trained_indices = np.flatnonzero(trained)
    if answer_char is None or not len(trained_indices):
        return len(offsets)
    starts = np.fromiter((start for start, _ in offsets), dtype=np.int64, count=len(offsets))
    first = int(np.searchsorted(starts, answer_char, side="left"))
    return min(first, int(trained_indices[-1]))


def truncate_sample(
    input_ids: list[int], labels: list[int], answer_start: int, max_length: int
) -> EncodedSample:
    """Cut a sample to at most ``max_length`` tokens, as H2O LLM Studio does.

    ``input_ids[:answer_start]`` is the prompt (system, earlier turns, the final question and its assistant
    cue) and ``input_ids[answer_start:]`` the final answer. A sample that fits is kept whole. Otherwise the
    prompt keeps at least ``min(len(prompt), max_length // 2)`` tokens; the final answer is right-truncated
    (its beginning kept) to fill what remains; then the prompt is left-truncated (its most recent tokens
    kept) to fill the rest. So the result keeps the first token of the final answer whenever there is one,
    and a sample without an answer keeps its last ``max_length`` tokens.
    """
    if len(input_ids) <= max_length:
        return EncodedSample(tuple(input_ids), tuple(labels))
    prompt_length = answer_start
    answer_length = len(input_ids) - answer_start
    answer_keep = min(answer_length, max_length - min(prompt_length, max_length // 2))
    prompt_keep = min(prompt_length, max_length - answer_keep)
    window = slice(answer_start - prompt_keep, answer_start + answer_keep)
    return EncodedSample(tuple(input_ids[window]), tuple(labels[window]))


LOSS_WEIGHTS = "loss_weights"
Pair = tuple[Sequence[int], Sequence[int]]


@dataclass(frozen=True)
class BatchShape:
    """How a collator shapes training batches: ``padding_quantile`` trimming (0 or 1: none) and per-token
    weights that give every sample the same weight in the loss (``sample_averaged``)."""

    padding_quantile: float = 1.0
    sample_averaged: bool = False

    def trim(
        self, pairs: list[tuple[Sequence[int], Sequence[int]]]
    ) -> list[tuple[Sequence[int], Sequence[int]]]:
        """Samples longer than the quantile of the batch's lengths keep their last tokens (as H2O does)."""
        if not 0.0 < self.padding_quantile < 1.0:
            return pairs
        limit = max(1, int(np.floor(np.quantile([len(ids) for ids, _ in pairs], self.padding_quantile))))
        return [(ids[-limit:], labels[-limit:]) for ids, labels in pairs]


def sample_weights(labels: Sequence[int]) -> list[float]:
    """Per-token loss weights of one sample: 1 / its trained tokens at each trained position after the first.

    The first position is never a target (nothing comes before it), so it gets no weight.
    """
    trained = [index for index in range(1, len(labels)) if labels[index] != IGNORE_INDEX]
    weights = [0.0] * len(labels)
    for index in trained:
        weights[index] = 1.0 / len(trained)
    return weights


class DataCollator:
    """Pads a batch to its longest sample, on the right, and returns ``torch.long`` tensors.

    Padding: ``pad_token_id`` in ``input_ids``, ``-100`` in ``labels``, ``0`` in ``attention_mask``. With
    ``pad_to_multiple_of``, the padded length is rounded up to a multiple of it. ``shape`` trims training
    batches and adds sample-averaging loss weights.
    """

    def __init__(
        self, pad_token_id: int, pad_to_multiple_of: int | None = None, shape: BatchShape | None = None
    ) -> None:
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise ValueError("pad_to_multiple_of must be positive")
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.shape = shape or BatchShape()

    @classmethod
    def for_tokenizer(
        cls, tokenizer: Any, pad_to_multiple_of: int | None = None, shape: BatchShape | None = None
    ) -> DataCollator:
        """A collator padding with the tokenizer's pad token, else its end-of-sequence token."""
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise StudioError("The tokenizer defines neither a padding nor an end-of-sequence token.")
        return cls(pad, pad_to_multiple_of, shape)

    def for_evaluation(self) -> DataCollator:
        """The same collator without trimming (evaluation always sees whole samples)."""
        return DataCollator(
            self.pad_token_id, self.pad_to_multiple_of, replace(self.shape, padding_quantile=1.0)
        )

    def __call__(
        self, features: Sequence[EncodedSample | Mapping[str, Sequence[int]]]
    ) -> dict[str, torch.Tensor]:
        import torch

        pairs = self.shape.trim(batch_pairs(features))
        length = max(len(ids) for ids, _ in pairs)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(pairs), length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(pairs), length), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(pairs), length), dtype=torch.long)
        for row, (ids, row_labels) in enumerate(pairs):
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            labels[row, : len(ids)] = torch.as_tensor(row_labels, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        if self.shape.sample_averaged:
            weights = torch.zeros((len(pairs), length), dtype=torch.float32)
            for row, (_, row_labels) in enumerate(pairs):
                weights[row, : len(row_labels)] = torch.tensor(sample_weights(row_labels))
            batch[LOSS_WEIGHTS] = weights
        return batch


def batch_pairs(features: Sequence[EncodedSample | Mapping[str, Sequence[int]]]) -> list[Pair]:
    """Token ids and labels of each sample or dataset item of a batch, checked to be non-empty and aligned."""
    if not features:
        raise ValueError("cannot collate an empty batch")
    pairs = [
        (feature.input_ids, feature.labels)
        if isinstance(feature, EncodedSample)
        else (feature["input_ids"], feature["labels"])
        for feature in features
    ]
    if any(len(ids) != len(labels) for ids, labels in pairs):
        raise ValueError("input_ids and labels of a sample differ in length")
    return pairs


class _EncodedSamples:
    """A map-style dataset of encoded samples: items are ``{"input_ids": list, "labels": list}``."""

    def __init__(self, samples: Sequence[EncodedSample]) -> None:
        self.samples = list(samples)
        self.lengths = [len(sample) for sample in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        sample = self.samples[index]
        return {"input_ids": list(sample.input_ids), "labels": list(sample.labels)}


if TYPE_CHECKING:
    TokenizedDataset = _EncodedSamples
else:

    def __getattr__(name: str) -> Any:
        """Build ``TokenizedDataset`` (a ``torch.utils.data.Dataset``) on first access."""
        if name != "TokenizedDataset":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from torch.utils.data import Dataset

        cls = type(
            "TokenizedDataset",
            (_EncodedSamples, Dataset),
            {"__module__": __name__, "__qualname__": "TokenizedDataset", "__doc__": _EncodedSamples.__doc__},
        )
        globals()["TokenizedDataset"] = cls
        return cls


def generation_prompts(
    tokenizer: Any, conversations: Sequence[Conversation], settings: TemplateSettings
) -> list[str]:
    """For each conversation, the text the model continues to produce its final answer."""
    return [
        render_prompt(tokenizer, conversation.system, conversation.prompt_messages, settings)
        for conversation in conversations
    ]


def reference_answers(conversations: Sequence[Conversation]) -> list[str]:
    """For each conversation, its final answer: what a generated answer is compared with."""
    return [conversation.answer for conversation in conversations]
