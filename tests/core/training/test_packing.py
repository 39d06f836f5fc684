"""Padding-free batches give the same loss and gradients as padded ones, on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from studio_desktop.core.data.prepare import IGNORE_INDEX, DataCollator, EncodedSample
from studio_desktop.core.training.packing import (
    PaddingFreeCollator,
    accepts_logits_to_keep,
    keeps_samples_apart,
    trained_token_loss,
)


def samples(lengths: list[int], seed: int = 0) -> list[EncodedSample]:
    """Random samples whose second half is trained."""
    generator = torch.Generator().manual_seed(seed)
    result = []
    for length in lengths:
        ids = torch.randint(4, 200, (length,), generator=generator).tolist()
        labels = [IGNORE_INDEX] * (length // 2) + ids[length // 2 :]
        result.append(EncodedSample(tuple(ids), tuple(labels)))
    return result


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    model.config.use_cache = False  # as for training (load_backbone)
    return model


def test_collator_concatenates_with_restarting_positions_and_unlabelled_borders() -> None:
    batch = PaddingFreeCollator(keep_trained_logits_only=True)(samples([3, 4]))
    assert batch["input_ids"].shape == (1, 7)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2, 3]]
    labels = batch["labels"][0].tolist()
    assert labels[0] == labels[3] == IGNORE_INDEX  # no sample predicts the first token of the next
    # A kept logit at position p predicts the token at p + 1; exactly the trained next tokens are kept.
    assert batch["logits_to_keep"].tolist() == [p for p in range(6) if labels[p + 1] != IGNORE_INDEX]


def test_collator_refuses_mismatched_samples() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        PaddingFreeCollator(keep_trained_logits_only=False)([{"input_ids": [1, 2], "labels": [1]}])


def padded_loss_and_grads(model, batch_samples: list[EncodedSample]) -> tuple[float, torch.Tensor]:
    model.zero_grad()
    loss = model(**DataCollator(0)(batch_samples)).loss
    loss.backward()
    return float(loss), model.lm_head.weight.grad.clone()


def test_padding_free_loss_and_gradients_equal_padded(model) -> None:
    batch_samples = samples([5, 23, 12, 40], seed=1)
    padded_loss, padded_grad = padded_loss_and_grads(model, batch_samples)

    model.zero_grad()
    batch = PaddingFreeCollator(keep_trained_logits_only=True)(batch_samples)
    labels = batch.pop("labels")
    outputs = model(**batch)
    assert outputs.logits.shape[1] == sum(len(s) - len(s) // 2 for s in batch_samples)
    loss = trained_token_loss(outputs, labels)
    loss.backward()

    assert float(loss) == pytest.approx(padded_loss, rel=1e-5)
    torch.testing.assert_close(model.lm_head.weight.grad, padded_grad, rtol=1e-4, atol=1e-6)


def test_loss_is_normalised_by_the_accumulated_token_count(model) -> None:
    batch = PaddingFreeCollator(keep_trained_logits_only=True)(samples([9, 14]))
    labels = batch.pop("labels")
    with torch.no_grad():
        outputs = model(**batch)
    trained = int((labels[..., 1:] != IGNORE_INDEX).sum())
    mean = trained_token_loss(outputs, labels)
    assert float(trained_token_loss(outputs, labels, num_items_in_batch=4 * trained)) == pytest.approx(
        float(mean) / 4, rel=1e-6
    )


def test_the_tiny_llama_keeps_packed_samples_apart_and_its_mode(model) -> None:
    assert accepts_logits_to_keep(model)
    assert keeps_samples_apart(model)
    assert not model.training
    model.train()
    try:
        assert keeps_samples_apart(model)
        assert model.training
    finally:
        model.eval()


def test_a_model_that_mixes_packed_samples_is_detected(model) -> None:
    model.config.use_cache = True  # a cache turns off transformers' detection of sample borders
    try:
        assert not keeps_samples_apart(model)
    finally:
        model.config.use_cache = False
