"""Which conversations a run trains on: per-answer samples, sampling of whole trees."""

from __future__ import annotations

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.jobs.training_data import expand_turns, sample_conversations


def chain(conversation_id: str, tree: str, *texts: str) -> Conversation:
    roles = ["user", "assistant"] * (len(texts) // 2)
    messages = tuple(Message(role, text) for role, text in zip(roles, texts, strict=True))
    return Conversation(conversation_id, tree, "", messages, source_row=1)


def test_every_answer_becomes_a_sample_and_shared_prefixes_appear_once() -> None:
    left = chain("l", "root", "q1", "a1", "q2", "a2")
    right = chain("r", "root", "q1", "a1", "q3", "a3")
    single = chain("s", "s", "x", "y")
    samples = expand_turns([left, right, single])
    assert [(s.conversation_id, len(s.messages)) for s in samples] == [
        ("l#1", 2),
        ("l", 4),
        ("r", 4),
        ("s", 2),
    ]
    assert samples[0].messages == left.messages[:2]


def test_sampling_keeps_whole_trees_and_is_repeatable() -> None:
    conversations = [chain(f"{t}-{i}", f"t{t}", "q", "a") for t in range(20) for i in range(3)]
    picked = sample_conversations(conversations, 0.25)
    trees = {c.tree_id for c in picked}
    assert len(trees) == 5
    assert all(sum(c.tree_id == tree for c in picked) == 3 for tree in trees)
    assert picked == sample_conversations(conversations, 0.25)
    assert sample_conversations(conversations, 1.0) is conversations
