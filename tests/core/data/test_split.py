"""Automatic train/validation split by conversation tree."""

from __future__ import annotations

import math

import pytest

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.split import split_train_validation
from studio_desktop.core.errors import DataError


def conversation(conversation_id: str, tree_id: str | None = None) -> Conversation:
    return Conversation(
        conversation_id=conversation_id,
        tree_id=tree_id or conversation_id,
        system="",
        messages=(Message("user", "q"), Message("assistant", "a")),
        source_row=1,
    )


def forest(sizes: list[int]) -> list[Conversation]:
    """Trees of the given sizes, their conversations interleaved as they would be in a file."""
    items = [conversation(f"t{t}-c{c}", f"t{t}") for t, size in enumerate(sizes) for c in range(size)]
    return sorted(items, key=lambda c: c.conversation_id[::-1])


def ids(conversations: list[Conversation]) -> list[str]:
    return [c.conversation_id for c in conversations]


def test_trees_are_never_split_and_nothing_is_lost() -> None:
    data = forest([1, 5, 2, 3, 1, 1, 4, 2, 1, 6] * 5)
    train, validation = split_train_validation(data, 0.2)
    assert {c.tree_id for c in train}.isdisjoint({c.tree_id for c in validation})
    assert sorted(ids(train) + ids(validation)) == sorted(ids(data))
    assert validation and train


def test_both_parts_keep_input_order() -> None:
    data = [conversation(str(i)) for i in range(50)]
    train, validation = split_train_validation(data, 0.3)
    position = {c.conversation_id: i for i, c in enumerate(data)}
    assert [position[i] for i in ids(train)] == sorted(position[i] for i in ids(train))
    assert [position[i] for i in ids(validation)] == sorted(position[i] for i in ids(validation))


def test_validation_holds_about_the_requested_share() -> None:
    data = [conversation(str(i)) for i in range(1000)]
    train, validation = split_train_validation(data, 0.1)
    assert len(validation) == 100
    assert len(train) == 900


def test_share_is_counted_in_conversations_not_trees() -> None:
    data = forest([4] * 100)
    _, validation = split_train_validation(data, 0.25)
    assert len(validation) == 100
    assert len({c.tree_id for c in validation}) == 25


def test_same_seed_same_split_other_seed_other_split() -> None:
    data = forest([1, 2, 3] * 30)
    first = split_train_validation(data, 0.2, seed=7)
    again = split_train_validation(list(data), 0.2, seed=7)
    assert (ids(first[0]), ids(first[1])) == (ids(again[0]), ids(again[1]))
    others = {tuple(ids(split_train_validation(data, 0.2, seed=s)[1])) for s in range(5)}
    assert len(others) > 1


def test_default_seed_is_fixed() -> None:
    data = [conversation(str(i)) for i in range(40)]
    assert ids(split_train_validation(data, 0.25)[1]) == ids(split_train_validation(data, 0.25, seed=1337)[1])


@pytest.mark.parametrize("size", [0.001, 0.5, 0.999])
def test_two_trees_give_one_to_each_side(size: float) -> None:
    data = forest([3, 1])
    train, validation = split_train_validation(data, size)
    assert len({c.tree_id for c in train}) == 1
    assert len({c.tree_id for c in validation}) == 1


def test_tiny_share_still_holds_out_one_conversation() -> None:
    data = [conversation(str(i)) for i in range(20)]
    train, validation = split_train_validation(data, 0.0001)
    assert (len(train), len(validation)) == (19, 1)


def test_huge_share_still_trains_on_one_tree() -> None:
    data = [conversation(str(i)) for i in range(20)]
    train, validation = split_train_validation(data, 0.9999)
    assert (len(train), len(validation)) == (1, 19)


@pytest.mark.parametrize("data", [[], [conversation("a")], forest([5])], ids=["empty", "one", "one-tree"])
def test_too_few_trees_suggests_a_custom_validation_file(data: list[Conversation]) -> None:
    with pytest.raises(DataError) as caught:
        split_train_validation(data, 0.1, file="train.csv")
    message = str(caught.value)
    assert "train.csv" in message
    assert "too few for an automatic validation split" in message
    assert "custom validation file" in message


@pytest.mark.parametrize("size", [0, 0.0, 1, 1.0, -0.1, 1.5, math.nan, True])
def test_validation_size_must_be_strictly_between_zero_and_one(size: float) -> None:
    with pytest.raises(ValueError, match="validation_size"):
        split_train_validation([conversation("a"), conversation("b")], size)
