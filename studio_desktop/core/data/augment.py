"""Training-time augmentation, as in H2O LLM Studio: masked input tokens, skipped or random history.

Each training item is drawn anew whenever the trainer asks for it (every epoch), from a generator seeded by
the run's seed: with ``skip_parent_probability`` the earlier turns of a multi-turn conversation are dropped,
with ``random_parent_probability`` they are replaced by another, unrelated conversation, and with
``token_mask_probability`` each input token is replaced by the mask token (the unknown, padding or
end-of-sequence token when the tokenizer has none) and left out of the loss. Validation is never augmented.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.prepare import IGNORE_INDEX, EncodedSample, _EncodedSamples

if TYPE_CHECKING:
    from studio_desktop.core.config_sections import AugmentationSection


@dataclass(frozen=True)
class Augmentation:
    """The augmentation probabilities of a run and the id that masked tokens take."""

    token_mask_probability: float = 0.0
    skip_parent_probability: float = 0.0
    random_parent_probability: float = 0.0
    mask_token_id: int = 0

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return self.token_mask_probability + self.skip_parent_probability + self.random_parent_probability > 0


def augmentation_for(section: AugmentationSection, tokenizer: Any) -> Augmentation:
    """The augmentation ``section`` asks for, masking with the tokenizer's mask-like token."""
    candidates = (
        tokenizer.mask_token_id,
        tokenizer.unk_token_id,
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
    )
    return Augmentation(
        token_mask_probability=section.token_mask_probability,
        skip_parent_probability=section.skip_parent_probability,
        random_parent_probability=section.random_parent_probability,
        mask_token_id=next((int(c) for c in candidates if c is not None), 0),
    )


def vary_history(
    conversation: Conversation, pool: Sequence[Conversation], augmentation: Augmentation, rng: random.Random
) -> Conversation | None:
    """``conversation`` with its earlier turns dropped, or preceded by another conversation of ``pool``
    instead of its own history; None when it stays as it is."""
    final = conversation.messages[-2:]
    if conversation.turns >= 2 and rng.random() < augmentation.skip_parent_probability:
        return dataclasses.replace(conversation, messages=final)
    if len(pool) >= 2 and rng.random() < augmentation.random_parent_probability:
        other = rng.choice(pool)
        while other is conversation:
            other = rng.choice(pool)
        return dataclasses.replace(conversation, messages=other.messages + final)
    return None


def mask_tokens(
    sample: EncodedSample, probability: float, mask_token_id: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Ids and labels of ``sample`` with each token masked with ``probability`` (masked: no loss)."""
    ids, labels = list(sample.input_ids), list(sample.labels)
    for index in range(len(ids)):
        if rng.random() < probability:
            ids[index] = mask_token_id
            labels[index] = IGNORE_INDEX
    return ids, labels


class _AugmentedSamples(_EncodedSamples):
    """Encoded training samples whose items are augmented each time they are read."""

    def __init__(
        self,
        samples: Sequence[EncodedSample],
        conversations: Sequence[Conversation],
        encode: Callable[[Conversation], EncodedSample],
        augmentation: Augmentation,
        seed: int,
    ) -> None:
        super().__init__(samples)
        self.conversations = list(conversations)
        self.encode = encode
        self.augmentation = augmentation
        self.rng = random.Random(seed)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        sample = self.samples[index]
        varied = vary_history(self.conversations[index], self.conversations, self.augmentation, self.rng)
        if varied is not None:
            sample = self.encode(varied)
        probability = self.augmentation.token_mask_probability
        if probability > 0:
            ids, labels = mask_tokens(sample, probability, self.augmentation.mask_token_id, self.rng)
            return {"input_ids": ids, "labels": labels}
        return {"input_ids": list(sample.input_ids), "labels": list(sample.labels)}


def __getattr__(name: str) -> Any:
    """Build ``AugmentedDataset`` (a ``torch.utils.data.Dataset``) on first access."""
    if name != "AugmentedDataset":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from torch.utils.data import Dataset

    cls = type("AugmentedDataset", (_AugmentedSamples, Dataset), {"__module__": __name__})
    globals()["AugmentedDataset"] = cls
    return cls
