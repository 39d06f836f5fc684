"""Sample-averaged loss, padding_quantile trimming and training-time augmentation, on the tiny model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from studio_desktop.core.data.augment import Augmentation, mask_tokens, vary_history
from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.prepare import (
    IGNORE_INDEX,
    LOSS_WEIGHTS,
    BatchShape,
    DataCollator,
    EncodedSample,
    sample_weights,
)
from studio_desktop.core.training.packing import PaddingFreeCollator, sample_averaged_loss
from tests.core.training.test_packing import samples


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    model.config.use_cache = False
    return model


def per_sample_mean_loss(model, batch_samples: list[EncodedSample]) -> float:
    """The mean over samples of each sample's own token-averaged loss, one forward per sample."""
    with torch.no_grad():
        losses = [float(model(**DataCollator(0)([sample])).loss) for sample in batch_samples]
    return sum(losses) / len(losses)


def test_sample_weights_spread_one_over_the_trained_targets_of_a_sample() -> None:
    weights = sample_weights([IGNORE_INDEX, IGNORE_INDEX, 5, 6, 7, IGNORE_INDEX])
    assert weights == [0.0, 0.0, 1 / 3, 1 / 3, 1 / 3, 0.0]
    assert sample_weights([4, 5]) == [0.0, 1.0]  # the first token is never a target


@pytest.mark.parametrize("padding_free", [False, True])
def test_sample_averaged_loss_is_the_mean_of_per_sample_means(model, padding_free: bool) -> None:
    batch_samples = samples([6, 20, 9])  # trained tokens 3, 10, 5: token and sample averages differ
    shape = BatchShape(sample_averaged=True)
    collator = PaddingFreeCollator(False, shape) if padding_free else DataCollator(0, shape=shape)
    batch = collator(batch_samples)
    weights, labels = batch.pop(LOSS_WEIGHTS), batch.pop("labels")
    with torch.no_grad():
        loss = sample_averaged_loss(model(**batch), labels, weights)
        token_averaged = float(model(**DataCollator(0)(batch_samples)).loss)
    expected = per_sample_mean_loss(model, batch_samples)
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    assert abs(token_averaged - expected) > 1e-3
    assert float(weights.sum()) == pytest.approx(3.0)  # one per sample: the accumulated divisor


def test_sample_averaged_loss_with_kept_logits_matches_full_logits(model) -> None:
    batch_samples = samples([6, 20, 9])
    shape = BatchShape(sample_averaged=True)
    kept = PaddingFreeCollator(True, shape)(batch_samples)
    full = PaddingFreeCollator(False, shape)(batch_samples)
    with torch.no_grad():
        losses = [
            sample_averaged_loss(
                model(**{k: v for k, v in b.items() if k not in ("labels", LOSS_WEIGHTS)}),
                b["labels"],
                b[LOSS_WEIGHTS],
            )
            for b in (kept, full)
        ]
    assert float(losses[0]) == pytest.approx(float(losses[1]), rel=1e-5)


def test_padding_quantile_trims_long_samples_to_their_last_tokens_in_training_only() -> None:
    batch_samples = samples([4, 6, 8, 30])
    collator = DataCollator(0, shape=BatchShape(padding_quantile=0.5))
    trimmed = collator(batch_samples)
    assert trimmed["input_ids"].shape == (4, 7)  # floor(median of 4, 6, 8, 30)
    assert trimmed["input_ids"][3].tolist() == list(batch_samples[3].input_ids[-7:])
    assert collator.for_evaluation()(batch_samples)["input_ids"].shape == (4, 30)
    assert DataCollator(0, shape=BatchShape(padding_quantile=0.0))(batch_samples)["input_ids"].shape[1] == 30
    packed = PaddingFreeCollator(True, BatchShape(padding_quantile=0.5))(batch_samples)
    assert packed["input_ids"].shape == (1, 4 + 6 + 7 + 7)


def conversation(name: str, *texts: str) -> Conversation:
    roles = ["user", "assistant"] * (len(texts) // 2)
    messages = tuple(Message(role, text) for role, text in zip(roles, texts, strict=True))  # type: ignore[arg-type]
    return Conversation(name, name, "", messages, source_row=1)


def test_history_is_skipped_or_replaced_with_the_configured_chance() -> None:
    chain = conversation("a", "hi", "hello", "and then?", "then this")
    other = conversation("b", "unrelated", "answer")
    rng = random.Random(0)
    skip = Augmentation(skip_parent_probability=1.0)
    assert vary_history(chain, [chain, other], skip, rng).messages == chain.messages[-2:]
    swap = Augmentation(random_parent_probability=1.0)
    swapped = vary_history(chain, [chain, other], swap, rng)
    assert swapped.messages == other.messages + chain.messages[-2:]
    assert vary_history(chain, [chain, other], Augmentation(), rng) is None
    half = Augmentation(skip_parent_probability=0.5)
    changed = sum(vary_history(chain, [chain], half, random.Random(seed)) is not None for seed in range(400))
    assert 150 < changed < 250


def test_masked_tokens_take_the_mask_id_and_leave_the_loss() -> None:
    sample = samples([200])[0]
    ids, labels = mask_tokens(sample, 0.3, 1, random.Random(0))
    masked = [i for i, token in enumerate(ids) if token != sample.input_ids[i]]
    assert 30 < len(masked) < 90
    assert all(ids[i] == 1 and labels[i] == IGNORE_INDEX for i in masked)
    kept = [i for i in range(200) if i not in masked]
    assert all(labels[i] == sample.labels[i] for i in kept)
