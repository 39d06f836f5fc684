"""Padding-free batches and a loss over trained tokens only.

A padding-free batch is one row: the samples of the batch one after the other, with ``position_ids`` that
restart at 0 for every sample. Transformers' attention (eager, sdpa, flash and flex) reads those positions as
sample borders and keeps samples from attending to each other, so no compute is spent on padding. The first
token of every sample gets no label, so no sample learns to predict the next one.

The loss asks the model for logits only at the positions whose next token is trained (``logits_to_keep``):
the language-model head and the softmax over the vocabulary, the biggest tensors of a small model's step,
then cover answer tokens only.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from studio_desktop.core.data.prepare import (
    IGNORE_INDEX,
    LOSS_WEIGHTS,
    BatchShape,
    EncodedSample,
    batch_pairs,
    sample_weights,
)

if TYPE_CHECKING:
    import torch

CHECK_LENGTHS = (7, 11)
CHECK_TOLERANCE = 0.05


class PaddingFreeCollator:
    """Concatenates a batch into one row with per-sample ``position_ids``; adds ``logits_to_keep``.

    ``shape`` trims training batches and adds sample-averaging loss weights (see ``BatchShape``).
    """

    def __init__(self, keep_trained_logits_only: bool, shape: BatchShape | None = None) -> None:
        self.keep_trained_logits_only = keep_trained_logits_only
        self.shape = shape or BatchShape()

    def for_evaluation(self) -> PaddingFreeCollator:
        """The same collator without trimming (evaluation always sees whole samples)."""
        return PaddingFreeCollator(self.keep_trained_logits_only, replace(self.shape, padding_quantile=1.0))

    def __call__(
        self, features: Sequence[EncodedSample | Mapping[str, Sequence[int]]]
    ) -> dict[str, torch.Tensor]:
        import torch

        pairs = self.shape.trim(batch_pairs(features))
        input_ids = torch.tensor([token for ids, _ in pairs for token in ids], dtype=torch.long)
        sample_labels = [(IGNORE_INDEX, *row_labels[1:]) for _, row_labels in pairs]
        labels = torch.tensor([label for row in sample_labels for label in row], dtype=torch.long)
        position_ids = torch.cat([torch.arange(len(ids), dtype=torch.long) for ids, _ in pairs])
        batch = {
            "input_ids": input_ids[None],
            "position_ids": position_ids[None],
            "labels": labels[None],
        }
        if self.keep_trained_logits_only:
            batch["logits_to_keep"] = torch.nonzero(labels[1:] != IGNORE_INDEX).flatten()
        if self.shape.sample_averaged:
            weights = [weight for row in sample_labels for weight in sample_weights(row)]
            batch[LOSS_WEIGHTS] = torch.tensor(weights, dtype=torch.float32)[None]
        return batch


def accepts_logits_to_keep(model: Any) -> bool:
    """Whether the causal LM inside ``model`` (PEFT-wrapped or not) takes ``logits_to_keep`` indices."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def trained_token_loss(
    outputs: Any, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None
) -> torch.Tensor:
    """Cross-entropy of logits kept at the trained positions (``logits_to_keep``) against the next tokens.

    Summed and divided by ``num_items_in_batch`` (the trained tokens of the whole accumulated batch) when
    given, else averaged over this batch.
    """
    import torch

    shifted = labels[..., 1:]
    targets = shifted[shifted != IGNORE_INDEX]
    logits = outputs["logits"].reshape(-1, outputs["logits"].shape[-1])
    if logits.shape[0] != targets.shape[0]:
        raise ValueError(f"{logits.shape[0]} logits kept for {targets.shape[0]} trained tokens")
    loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
    if num_items_in_batch is None:
        return loss / max(1, targets.numel())
    return loss / torch.as_tensor(num_items_in_batch, device=loss.device)


def sample_averaged_loss(
    outputs: Any, labels: torch.Tensor, weights: torch.Tensor, num_items_in_batch: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy where every sample weighs the same (H2O's SampleAveragedCrossEntropy).

    ``weights`` hold 1 / trained tokens of the sample at each trained position (``sample_weights``); the
    weighted sum is divided by ``num_items_in_batch`` (the samples of the accumulated batch) when given,
    else by this batch's samples. Logits may cover every position or only the trained ones.
    """
    import torch

    shifted = labels[..., 1:]
    trained = shifted != IGNORE_INDEX
    logits = outputs["logits"]
    if logits.shape[-2] == labels.shape[-1]:
        logits = logits[..., :-1, :][trained]
    logits = logits.reshape(-1, logits.shape[-1])
    token_weights = weights[..., 1:][trained].to(logits.device)
    losses = torch.nn.functional.cross_entropy(logits.float(), shifted[trained], reduction="none")
    total = (losses * token_weights).sum()
    if num_items_in_batch is None:
        return total / token_weights.sum().clamp_min(1e-9)
    return total / torch.as_tensor(num_items_in_batch, device=total.device)


def keeps_samples_apart(model: Any) -> bool:
    """Whether ``model`` treats a padding-free row as separate samples.

    Runs two short random samples alone and packed into one row and compares the second sample's logits: a
    model that ignores ``position_ids`` as borders lets the second sample see the first and fails.
    """
    import torch

    vocab = model.get_input_embeddings().num_embeddings
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    samples = [torch.randint(0, vocab, (1, length), generator=generator) for length in CHECK_LENGTHS]
    packed = torch.cat(samples, dim=1).to(device)
    positions = torch.cat([torch.arange(length) for length in CHECK_LENGTHS])[None].to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alone = model(input_ids=samples[1].to(device)).logits.float()
            together = model(input_ids=packed, position_ids=positions).logits.float()
    finally:
        model.train(was_training)
    second = together[:, CHECK_LENGTHS[0] :]
    error = (second - alone).norm() / alone.norm().clamp_min(1e-6)
    return bool(error < CHECK_TOLERANCE)


def pad_on_the_right(sequences: Sequence[Sequence[int]], pad_token_id: int) -> tuple[Any, Any]:
    """Token id lists as one (rows, longest) tensor padded on the right, and its attention mask."""
    import torch

    longest = max(len(ids) for ids in sequences)
    ids = torch.full((len(sequences), longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids, mask
