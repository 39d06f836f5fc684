"""Automatic hold-out split that never separates conversations of one tree."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa


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
    trees: dict[str, int] = {}
    for conversation in conversations:
        trees[conversation.tree_id] = trees.get(conversation.tree_id, 0) + 1
    held_out = held_out_trees(list(trees.values()), validation_size, seed, file=file)
    held_ids = {tree_id for tree_id, held in zip(trees, held_out, strict=True) if held}
    train = [c for c in conversations if c.tree_id not in held_ids]
    validation = [c for c in conversations if c.tree_id in held_ids]
    return train, validation


def split_table(
    table: pa.Table, validation_size: float, seed: int = 1337, *, file: str | Path | None = None
) -> tuple[pa.Table, pa.Table]:
    """``split_train_validation`` for a table in the stored layout (``store``): the same parts, as tables."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(table.column("tree_id")).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    sizes = np.bincount(codes, minlength=len(encoded.dictionary))
    held_out = np.array(held_out_trees(sizes.tolist(), validation_size, seed, file=file), dtype=bool)
    validation = held_out[codes]
    return table.filter(~validation), table.filter(validation)


def held_out_trees(
    sizes: Sequence[int], validation_size: float, seed: int, *, file: str | Path | None = None
) -> list[bool]:
    """Which trees (with ``sizes`` conversations each, in order of first appearance) go to validation."""
    if isinstance(validation_size, bool) or not 0 < validation_size < 1:
        raise ValueError(f"validation_size must be between 0 and 1 (exclusive), got {validation_size!r}")
    if len(sizes) < 2:
        raise DataError(
            f"the data holds {len(sizes)} conversation tree(s), too few for an automatic validation split; "
            "give a custom validation file",
            file=file,
        )
    order = list(range(len(sizes)))
    random.Random(seed).shuffle(order)
    target = max(1, round(validation_size * sum(sizes)))
    held_out = [False] * len(sizes)
    held = 0
    for tree in order[:-1]:
        if held >= target:
            break
        if held and _overshoots(held, sizes[tree], target):
            continue
        held_out[tree] = True
        held += sizes[tree]
    return held_out


def _overshoots(held: int, size: int, target: int) -> bool:
    """Whether adding a tree of ``size`` lands further from ``target`` than stopping at ``held``."""
    return math.fabs(held + size - target) > math.fabs(target - held)
