"""Helpers for tests that tokenize: a call-recording tokenizer wrapper and a conversation builder."""

from __future__ import annotations

from typing import Any

from studio_desktop.core.data.conversations import Conversation, Message


class CountingTokenizer:
    """Forwards everything to a tokenizer and records the texts of each call."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[list[str]] = []

    def __call__(self, texts: Any, **kwargs: Any) -> Any:
        self.calls.append(list(texts))
        return self._inner(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def conversation(index: int, *turns: str, system: str = "") -> Conversation:
    """A conversation of alternating user/assistant turns with ids derived from ``index``."""
    roles = ("user", "assistant")
    messages = tuple(Message(roles[i % 2], text) for i, text in enumerate(turns))
    return Conversation(f"c{index}", f"c{index}", system, messages, source_row=index + 1)
