"""Chat generation: streamed deltas, stop strings, the stop event and the chat prompt."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from studio_desktop.core.config_sections import PredictionSection
from studio_desktop.core.data.conversations import Message
from studio_desktop.core.data.templates import TemplateSettings
from studio_desktop.core.inference import chat_prompt, generate_text, stream_generate


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path):
    """The tiny model with larger random weights, so that greedy text varies from token to token."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


@pytest.fixture(scope="module")
def prompt(tokenizer) -> str:
    chat = [{"role": "user", "content": "What is LoRA rank? Tell me about it"}]
    return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


def direct(model, tokenizer, prompt: str, max_new_tokens: int, num_beams: int = 1) -> str:
    import torch

    encoded = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(
            **encoded, max_new_tokens=max_new_tokens, do_sample=False, num_beams=num_beams
        )
    return tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)


def greedy(max_new_tokens: int = 30, **values) -> PredictionSection:
    return PredictionSection(max_length_inference=max_new_tokens, min_length_inference=0, **values)


def test_streamed_deltas_join_to_the_direct_greedy_text(model, tokenizer, prompt) -> None:
    deltas = list(stream_generate(model, tokenizer, prompt, greedy()))
    assert len(deltas) > 1
    assert "".join(deltas) == direct(model, tokenizer, prompt, 30)
    assert generate_text(model, tokenizer, prompt, greedy()) == "".join(deltas)


def test_beam_search_answer_comes_whole(model, tokenizer, prompt) -> None:
    deltas = list(stream_generate(model, tokenizer, prompt, greedy(10, num_beams=2)))
    assert deltas == [direct(model, tokenizer, prompt, 10, num_beams=2)]


def test_stop_string_ends_the_stream_before_it(model, tokenizer, prompt) -> None:
    full = direct(model, tokenizer, prompt, 30)
    stop = full[12:16]
    assert "," not in stop and stop.strip(" ") == stop
    deltas = list(stream_generate(model, tokenizer, prompt, greedy(30, stop_tokens=stop)))
    assert "".join(deltas) == full[: full.index(stop)]
    assert all(stop not in delta for delta in deltas)


def test_stop_event_from_another_thread_ends_generation_early(model, tokenizer, prompt) -> None:
    forward_calls = []
    hook = model.register_forward_hook(lambda *_: forward_calls.append(1))
    stop_event = threading.Event()
    first_delta = threading.Event()

    def press_stop() -> None:
        first_delta.wait(30)
        stop_event.set()

    presser = threading.Thread(target=press_stop)
    presser.start()
    deltas = []
    try:
        for delta in stream_generate(model, tokenizer, prompt, greedy(800), stop_event):
            deltas.append(delta)
            first_delta.set()
    finally:
        first_delta.set()
        presser.join()
        hook.remove()
    assert deltas
    assert len(forward_calls) < 400
    assert stop_event.is_set()


def test_nothing_is_yielded_once_the_stop_event_is_set(model, tokenizer, prompt) -> None:
    stop_event = threading.Event()
    deltas = []
    for delta in stream_generate(model, tokenizer, prompt, greedy(800), stop_event):
        deltas.append(delta)
        stop_event.set()
    assert len(deltas) == 1


def test_closing_the_stream_stops_and_joins_the_generation_thread(model, tokenizer, prompt) -> None:
    forward_calls = []
    hook = model.register_forward_hook(lambda *_: forward_calls.append(1))
    try:
        stream = stream_generate(model, tokenizer, prompt, greedy(800))
        assert next(stream)
        stream.close()
    finally:
        hook.remove()
    assert len(forward_calls) < 400
    assert not [thread for thread in threading.enumerate() if thread.name == "stream-generate"]


def test_errors_in_the_generation_thread_are_raised(model, tokenizer) -> None:
    with pytest.raises(RuntimeError):
        list(stream_generate(model, tokenizer, "", greedy(5)))
    assert not [thread for thread in threading.enumerate() if thread.name == "stream-generate"]


def conversation(exchanges: int) -> list[Message]:
    history = []
    for i in range(1, exchanges + 1):
        history += [Message("user", f"question {i}"), Message("assistant", f"answer {i}")]
    return [*history, Message("user", "new question")]


def test_chat_prompt_keeps_the_last_exchanges(tokenizer) -> None:
    settings = TemplateSettings()
    text = chat_prompt(tokenizer, "Be brief.", conversation(3), 2, settings)
    assert "question 1" not in text and "answer 1" not in text
    assert text.index("question 2") < text.index("answer 2") < text.index("answer 3")
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert text.endswith("<|im_start|>user\nnew question<|im_end|>\n<|im_start|>assistant\n")
    only_new = chat_prompt(tokenizer, "", conversation(3), 0, settings)
    assert only_new == "<|im_start|>user\nnew question<|im_end|>\n<|im_start|>assistant\n"
    everything = chat_prompt(tokenizer, "", conversation(3), 10, settings)
    assert all(f"answer {i}" in everything for i in (1, 2, 3))


def test_chat_prompt_with_text_markers_and_an_unanswered_turn(tokenizer) -> None:
    settings = TemplateSettings(use_chat_template=False, add_eos_token_to_prompt=False)
    history = [
        Message("user", "old"),
        Message("assistant", "reply"),
        Message("user", "unanswered"),
        Message("user", "new"),
    ]
    text = chat_prompt(tokenizer, "", history, 1, settings)
    assert text == "<|prompt|>unanswered<|answer|><|prompt|>new<|answer|>"
    with pytest.raises(ValueError, match="new user message"):
        chat_prompt(tokenizer, "", history[:2], 1, settings)


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        (["Hello", " wor", "ld<", "|e", "nd|>", " more"], ["Hello", " wor", "ld", ""]),
        (["a<", "b", "<|end", "|", "x"], ["a", "<b", "", "", "<|end|x"]),
        (["<|end|>at once"], []),
        (["one ", "STOP", " two"], ["one "]),
        (["x" * 50] * 200 + ["<|end|>", "y"], ["x" * 50] * 200),
    ],
)
def test_stop_strings_are_cut_across_deltas_and_partial_ones_held_back(deltas, expected) -> None:
    from studio_desktop.core.inference import _stopped_deltas

    halt = threading.Event()
    sent = list(_stopped_deltas(iter(deltas), ["<|end|>", "STOP"], halt, None))
    text = "".join(deltas)
    cut = min((i for i in (text.find("<|end|>"), text.find("STOP")) if i >= 0), default=len(text))
    assert "".join(sent) == text[:cut]
    assert [part for part in sent if part] == [part for part in expected if part]
    assert halt.is_set() == (cut < len(text))
