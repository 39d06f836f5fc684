"""Generation for chat: prompts from a chat history and answers streamed as text deltas."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from studio_desktop.core.config_sections import PredictionSection
from studio_desktop.core.data.conversations import Message
from studio_desktop.core.data.templates import TemplateSettings, render_prompt
from studio_desktop.core.errors import StudioError
from studio_desktop.core.evaluation import cut_at_stop, generation_kwargs, model_device, stop_strings


def chat_prompt(
    tokenizer: Any, system: str, history: Sequence[Message], num_history: int, settings: TemplateSettings
) -> str:
    """The generation prompt for ``history``, which ends with the new user message.

    Only the last ``num_history`` earlier exchanges (a user turn and the answers that follow it) are kept.
    """
    if not history or history[-1].role != "user":
        raise ValueError("a chat history must end with the new user message")
    exchanges: list[list[Message]] = []
    for message in history[:-1]:
        if message.role == "user":
            exchanges.append([message])
        elif message.role == "assistant" and exchanges:
            exchanges[-1].append(message)
    kept = exchanges[len(exchanges) - num_history :] if num_history > 0 else []
    messages = [message for exchange in kept for message in exchange]
    return render_prompt(tokenizer, system, [*messages, history[-1]], settings)


def fit_context(kwargs: dict[str, Any], prompt_tokens: int, context: int | None) -> None:
    """Keep prompt and answer within the model's context: the answer is shortened to the room left; a prompt
    that fills the context is refused (``StudioError``) rather than cut without a word."""
    if not context:
        return
    room = context - prompt_tokens
    if room <= 0:
        raise StudioError(
            f"the conversation is {prompt_tokens} tokens, the whole context of this model ({context}); start "
            "a new chat, send a shorter message, or keep fewer earlier exchanges (prediction.num_history)."
        )
    kwargs["max_new_tokens"] = min(kwargs["max_new_tokens"], room)
    if "min_new_tokens" in kwargs:
        kwargs["min_new_tokens"] = min(kwargs["min_new_tokens"], kwargs["max_new_tokens"])


def stream_generate(
    model: Any,
    tokenizer: Any,
    prompt: str,
    prediction_section: PredictionSection,
    stop_event: threading.Event | None = None,
) -> Iterator[str]:
    """Yield the answer to the rendered ``prompt`` as text deltas while the model generates it.

    Generation runs in a background thread. It ends at a stop string (never yielded, nor anything after
    it), when ``stop_event`` is set (nothing more is yielded) or when the generator is closed. The thread is
    joined before returning, and an exception raised while generating is raised here. Beam search cannot
    stream: its answer comes as one piece at the end.
    """
    import torch
    from transformers import StoppingCriteriaList, TextIteratorStreamer

    kwargs = generation_kwargs(prediction_section, tokenizer, model)
    kwargs.pop("stop_strings", None)
    kwargs.pop("tokenizer", None)
    stops = stop_strings(prediction_section)
    halt = threading.Event()
    events = [halt] if stop_event is None else [halt, stop_event]
    kwargs["stopping_criteria"] = StoppingCriteriaList([_EventStop(events)])
    encoded = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    fit_context(
        kwargs, encoded["input_ids"].shape[-1], getattr(model.config, "max_position_embeddings", None)
    )
    device = model_device(model)
    kwargs.update(
        input_ids=encoded["input_ids"].to(device), attention_mask=encoded["attention_mask"].to(device)
    )
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    beams = kwargs["num_beams"] > 1
    errors: list[BaseException] = []
    result: list[Any] = []

    def work() -> None:
        try:
            with torch.inference_mode():
                output = model.generate(**kwargs) if beams else model.generate(**kwargs, streamer=streamer)
            result.append(output)
        except BaseException as exc:  # handed to the consumer, which raises it
            errors.append(exc)
        finally:
            if beams or errors:
                streamer.end()

    was_training = model.training
    model.eval()
    thread = threading.Thread(target=work, name="stream-generate", daemon=True)
    thread.start()
    try:
        deltas = _beam_text(streamer, result, tokenizer, kwargs) if beams else streamer
        yield from _stopped_deltas(deltas, stops, halt, stop_event)
    finally:
        halt.set()
        thread.join()
        model.train(was_training)
    if errors:
        raise errors[0]


def generate_text(
    model: Any,
    tokenizer: Any,
    prompt: str,
    prediction_section: PredictionSection,
    stop_event: threading.Event | None = None,
) -> str:
    """The whole answer of ``stream_generate`` as one text."""
    return "".join(stream_generate(model, tokenizer, prompt, prediction_section, stop_event))


def _stopped_deltas(
    deltas: Iterator[str], stops: Sequence[str], halt: threading.Event, stop_event: threading.Event | None
) -> Iterator[str]:
    """Deltas up to the first stop string; text that may begin a stop string is held back until it cannot.

    Only the held-back text is searched for stop strings: no stop string can begin in text already sent,
    because text that could begin one is always held back. So each delta costs the same however long the
    answer has grown.
    """
    pending = ""
    for delta in deltas:
        if halt.is_set() or (stop_event is not None and stop_event.is_set()):
            continue  # drain what the model wrote before it noticed
        pending += delta
        cut = cut_at_stop(pending, stops) if stops else pending
        if len(cut) < len(pending):
            halt.set()
            safe = len(cut)
        else:
            safe = len(pending) - _partial_stop_length(pending, stops)
        if safe > 0:
            yield pending[:safe]
            pending = pending[safe:]
    if not halt.is_set() and not (stop_event is not None and stop_event.is_set()) and pending:
        yield pending


def _partial_stop_length(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that is the beginning of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def _beam_text(streamer: Any, result: list[Any], tokenizer: Any, kwargs: dict) -> Iterator[str]:
    """The whole beam-search answer once generation has finished."""
    for _ in streamer:  # only the end signal arrives
        pass
    if result:
        width = kwargs["input_ids"].shape[1]
        yield tokenizer.decode(result[0][0, width:], skip_special_tokens=True)


class _EventStop:
    """A stopping criterion that ends generation as soon as any of its events is set."""

    def __init__(self, events: Sequence[threading.Event]) -> None:
        self.events = tuple(events)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        stop = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
