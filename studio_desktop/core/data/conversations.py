"""The one conversation model every dataset format is mapped to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """A system prompt and alternating user/assistant turns that start with user and end with assistant.

    ``tree_id`` groups conversations that share a root (parent-id chains): a split never separates them.
    ``rejected_answer`` is the alternative final answer of preference data (DPO family), else ``None``.
    ``rejected_prompt`` is the final question as the rejected answer was given to it, when the data has its
    own prompt for the rejected side (H2O's rejected prompt column), else ``None``.
    ``desirable`` rates the final answer of unpaired preference data (KTO): good (True) or bad (False).
    ``source_row`` is the 1-based row (or line) in the source file of the last turn, for error messages.
    """

    conversation_id: str
    tree_id: str
    system: str
    messages: tuple[Message, ...]
    source_row: int
    rejected_answer: str | None = None
    desirable: bool | None = None
    rejected_prompt: str | None = None

    @property
    def prompt_messages(self) -> tuple[Message, ...]:
        """Every turn before the final answer."""
        return self.messages[:-1]

    @property
    def answer(self) -> str:
        """The final assistant answer."""
        return self.messages[-1].content

    @property
    def rejected_messages(self) -> tuple[Message, ...]:
        """The turns the rejected answer follows: the prompt turns, the last question replaced by
        ``rejected_prompt`` when there is one."""
        if self.rejected_prompt is None:
            return self.prompt_messages
        return (*self.messages[:-2], Message("user", self.rejected_prompt))

    @property
    def turns(self) -> int:
        """Number of user/assistant exchanges."""
        return len(self.messages) // 2
