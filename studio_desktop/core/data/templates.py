"""Conversation → training text, with the character spans that carry the loss.

Two ways to lay out a conversation:

- the backbone's chat template (``use_chat_template``), rendered turn by turn so that the text each answer
  adds is known exactly;
- H2O-style text markers: ``[system_start + system + EOS] + Σ(prompt_start + prompt + EOS + answer_separator,
  answer + EOS)``, each EOS optional. Used when ``use_chat_template`` is off or the tokenizer has no template.

Functions take any tokenizer object exposing ``eos_token``, ``chat_template`` and ``apply_chat_template``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.errors import StudioError

TRAINED_OPEN = "[["
TRAINED_CLOSE = "]]"


@dataclass(frozen=True)
class TemplateSettings:
    """How conversations become text and which parts of it are trained.

    ``add_eos_token_to_*`` and the ``text_*`` markers apply to the marker layout only: a chat template writes
    its own turn separators.
    """

    use_chat_template: bool = True
    text_system_start: str = "<|system|>"
    text_prompt_start: str = "<|prompt|>"
    text_answer_separator: str = "<|answer|>"
    add_eos_token_to_system: bool = True
    add_eos_token_to_prompt: bool = True
    add_eos_token_to_answer: bool = True
    mask_prompt_labels: bool = True
    only_last_answer: bool = False


@dataclass(frozen=True)
class Segment:
    """A stretch of a rendered sample; ``trained`` when the loss is computed on its tokens."""

    text: str
    trained: bool


@dataclass(frozen=True)
class RenderedSample:
    """The full training text and its segments, which concatenate to exactly ``text``."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def trained_char_spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` character ranges of the trained text, adjacent trained segments merged."""
        spans: list[tuple[int, int]] = []
        position = 0
        for segment in self.segments:
            end = position + len(segment.text)
            if segment.trained and end > position:
                if spans and spans[-1][1] == position:
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((position, end))
            position = end
        return spans


def uses_chat_template(tokenizer: Any, settings: TemplateSettings) -> bool:
    """Whether ``settings`` and ``tokenizer`` select the chat-template layout (else the text markers)."""
    return settings.use_chat_template and bool(getattr(tokenizer, "chat_template", None))


def render_sample(tokenizer: Any, conversation: Conversation, settings: TemplateSettings) -> RenderedSample:
    """The training text of ``conversation``, split into trained and untrained segments.

    Trained: every assistant answer together with the end-of-turn text that follows it (so the model learns to
    stop), only the final answer with ``only_last_answer``, everything with ``mask_prompt_labels`` off.
    Raises ``StudioError`` when the chat template cannot be rendered turn by turn.
    """
    if uses_chat_template(tokenizer, settings):
        pieces = list(_chat_template_pieces(tokenizer, conversation))
    else:
        pieces = list(_marker_pieces(tokenizer, conversation.system, conversation.messages, settings))
    last_answer = max((i for i, (_, is_answer) in enumerate(pieces) if is_answer), default=-1)
    segments = []
    for i, (text, is_answer) in enumerate(pieces):
        if not text:
            continue
        if not settings.mask_prompt_labels:
            trained = True
        elif settings.only_last_answer:
            trained = i == last_answer
        else:
            trained = is_answer
        segments.append(Segment(text, trained))
    return RenderedSample("".join(segment.text for segment in segments), tuple(segments))


def render_prompt(
    tokenizer: Any, system: str, messages: Sequence[Message], settings: TemplateSettings
) -> str:
    """The generation prompt for a history that ends in a user turn, ending in the assistant cue."""
    if not messages or messages[-1].role != "user":
        raise ValueError("a generation prompt needs a history that ends with a user turn")
    if uses_chat_template(tokenizer, settings):
        return _apply_template(tokenizer, _chat_messages(system, messages), generation_prompt=True)
    return "".join(text for text, _ in _marker_pieces(tokenizer, system, messages, settings))


def format_marked(sample: RenderedSample) -> str:
    """A plain-text view of ``sample`` in which each trained span is wrapped in ``[[`` … ``]]``.

    Everything outside the brackets is context only (no loss). Line breaks are kept as they are.
    """
    parts = []
    position = 0
    for start, end in sample.trained_char_spans:
        parts.append(sample.text[position:start])
        parts.append(TRAINED_OPEN + sample.text[start:end] + TRAINED_CLOSE)
        position = end
    parts.append(sample.text[position:])
    return "".join(parts)


def _marker_pieces(
    tokenizer: Any, system: str, messages: Sequence[Message], settings: TemplateSettings
) -> Iterator[tuple[str, bool]]:
    """``(text, is_answer)`` pieces of the H2O marker layout."""
    if system:
        yield settings.text_system_start + system + _eos(tokenizer, settings.add_eos_token_to_system), False
    for message in messages:
        if message.role == "user":
            prompt_eos = _eos(tokenizer, settings.add_eos_token_to_prompt)
            yield (
                settings.text_prompt_start + message.content + prompt_eos + settings.text_answer_separator,
                False,
            )
        elif message.role == "assistant":
            yield message.content + _eos(tokenizer, settings.add_eos_token_to_answer), True
        else:
            raise ValueError(f"unexpected role {message.role!r} among the turns of a conversation")


def _eos(tokenizer: Any, wanted: bool) -> str:
    if not wanted:
        return ""
    eos = getattr(tokenizer, "eos_token", None)
    if not eos:
        raise StudioError(
            "The tokenizer defines no end-of-sequence token. Set add_eos_token_to_system, "
            "add_eos_token_to_prompt and add_eos_token_to_answer to false."
        )
    return str(eos)


def _chat_template_pieces(tokenizer: Any, conversation: Conversation) -> Iterator[tuple[str, bool]]:
    """``(text, is_answer)`` pieces from rendering the chat template one turn at a time."""
    chat = _chat_messages(conversation.system, conversation.messages)
    done = ""
    for i, message in enumerate(chat):
        if message["role"] != "assistant":
            continue
        prompt = _apply_template(tokenizer, chat[:i], generation_prompt=True)
        full = _apply_template(tokenizer, chat[: i + 1], generation_prompt=False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise StudioError(
                f"The backbone's chat template ({_name(tokenizer)}) cannot be used for training: rendering "
                f"conversation '{conversation.conversation_id}' one turn at a time does not extend the text "
                "rendered so far (the template rewrites earlier turns or its assistant cue differs from the "
                "history). Set use_chat_template: false in the dataset settings to use text markers instead."
            )
        yield prompt[len(done) :], False
        yield full[len(prompt) :], True
        done = full


def _chat_messages(system: str, messages: Sequence[Message]) -> list[dict[str, str]]:
    chat = [{"role": "system", "content": system}] if system else []
    chat.extend({"role": message.role, "content": message.content} for message in messages)
    return chat


def _apply_template(tokenizer: Any, chat: list[dict[str, str]], *, generation_prompt: bool) -> str:
    try:
        text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=generation_prompt)
    except Exception as exc:  # a template is third-party code: any failure is reported the same way
        raise StudioError(
            f"The backbone's chat template ({_name(tokenizer)}) failed on a conversation: {exc}. "
            "Set use_chat_template: false in the dataset settings to use text markers instead."
        ) from exc
    if not isinstance(text, str):
        raise StudioError(f"The backbone's chat template ({_name(tokenizer)}) did not render to text.")
    return text


def _name(tokenizer: Any) -> str:
    return getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
