"""Automatic hold-out split that never separates conversations of one tree."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.errors import DataError


def split_train_validation(
    conversations: Sequence[Conversation],
    validation_size: float,
    seed: int = 1337,
    *,
    file: str | Path | None = None,
) -> tuple[list[Conversation], list[Conversation]]:
    """Train and validation conversations, both in input order.

    Whole trees (conversations sharing ``tree_id``) are drawn at random, with a fixed ``seed``, until about
    ``validation_size`` of the conversations are held out; both parts get at least one tree.
    """
    if isinstance(validation_size, bool) or not 0 < validation_size < 1:
        raise ValueError(f"validation_size must be between 0 and 1 (exclusive), got {validation_size!r}")
    trees: dict[str, int] = {}
    for conversation in conversations:
        trees[conversation.tree_id] = trees.get(conversation.tree_id, 0) + 1
    if len(trees) < 2:
        raise DataError(
            f"the data holds {len(trees)} conversation tree(s), too few for an automatic validation split; "
            "give a custom validation file",
            file=file,
        )
    order = list(trees)
    random.Random(seed).shuffle(order)
    target = max(1, round(validation_size * len(conversations)))
    held_out: set[str] = set()
    held = 0
    for tree_id in order[:-1]:
        if held >= target:
            break
        if held and _overshoots(held, trees[tree_id], target):
            continue
        held_out.add(tree_id)
        held += trees[tree_id]
    train = [c for c in conversations if c.tree_id not in held_out]
    validation = [c for c in conversations if c.tree_id in held_out]
    return train, validation


def _overshoots(held: int, size: int, target: int) -> bool:
    """Whether adding a tree of ``size`` lands further from ``target`` than stopping at ``held``."""
    return math.fabs(held + size - target) > math.fabs(target - held)
