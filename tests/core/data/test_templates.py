"""Rendering conversations with the chat template or H2O markers, and the trained spans."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.templates import (
    RenderedSample,
    Segment,
    TemplateSettings,
    format_marked,
    render_prompt,
    render_sample,
)
from studio_desktop.core.errors import StudioError

MARKERS = TemplateSettings(use_chat_template=False)
NO_EOS = TemplateSettings(
    use_chat_template=False,
    add_eos_token_to_system=False,
    add_eos_token_to_prompt=False,
    add_eos_token_to_answer=False,
)

# Drops every assistant turn but the last: rendering turn by turn rewrites the history.
DROP_EARLIER_ANSWERS = (
    "{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
NO_SYSTEM_ROLE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _load(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return _load(tiny_model_dir)


def conversation(system: str, *turns: str) -> Conversation:
    roles = ("user", "assistant")
    messages = tuple(Message(roles[i % 2], text) for i, text in enumerate(turns))
    return Conversation("c1", "c1", system, messages, source_row=1)


def trained_texts(sample: RenderedSample) -> list[str]:
    return [sample.text[start:end] for start, end in sample.trained_char_spans]


def test_chat_template_single_turn_without_system(tokenizer):
    sample = render_sample(tokenizer, conversation("", "Hi", "Hello"), TemplateSettings())

    assert sample.text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
    assert sample.segments == (
        Segment("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False),
        Segment("Hello<|im_end|>\n", True),
    )
    assert trained_texts(sample) == ["Hello<|im_end|>\n"]


def test_chat_template_multi_turn_with_system(tokenizer):
    sample = render_sample(tokenizer, conversation("Be brief.", "u1", "a1", "u2", "a2"), TemplateSettings())

    assert sample.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nu1<|im_end|>\n<|im_start|>assistant\na1<|im_end|>\n"
        "<|im_start|>user\nu2<|im_end|>\n<|im_start|>assistant\na2<|im_end|>\n"
    )
    assert "".join(segment.text for segment in sample.segments) == sample.text
    assert trained_texts(sample) == ["a1<|im_end|>\n", "a2<|im_end|>\n"]


def test_only_last_answer_trains_the_final_answer_only(tokenizer):
    settings = TemplateSettings(only_last_answer=True)
    sample = render_sample(tokenizer, conversation("", "u1", "a1", "u2", "a2"), settings)

    assert trained_texts(sample) == ["a2<|im_end|>\n"]
    assert sample.text.endswith("a2<|im_end|>\n")
    assert "".join(segment.text for segment in sample.segments) == sample.text


def test_unmasked_prompts_train_everything(tokenizer):
    settings = TemplateSettings(mask_prompt_labels=False)
    sample = render_sample(tokenizer, conversation("Sys", "u1", "a1", "u2", "a2"), settings)

    assert sample.trained_char_spans == [(0, len(sample.text))]
    assert all(segment.trained for segment in sample.segments)


def test_markers_with_eos(tokenizer):
    sample = render_sample(tokenizer, conversation("Be brief.", "Hi", "Hello", "More?", "No."), MARKERS)

    assert sample.text == (
        "<|system|>Be brief.<|im_end|>"
        "<|prompt|>Hi<|im_end|><|answer|>Hello<|im_end|>"
        "<|prompt|>More?<|im_end|><|answer|>No.<|im_end|>"
    )
    assert "".join(segment.text for segment in sample.segments) == sample.text
    assert trained_texts(sample) == ["Hello<|im_end|>", "No.<|im_end|>"]


def test_markers_without_eos_and_custom_markers(tokenizer):
    sample = render_sample(tokenizer, conversation("Be brief.", "Hi", "Hello"), NO_EOS)
    assert sample.text == "<|system|>Be brief.<|prompt|>Hi<|answer|>Hello"
    assert trained_texts(sample) == ["Hello"]

    custom = TemplateSettings(
        use_chat_template=False,
        text_system_start="S: ",
        text_prompt_start="\nQ: ",
        text_answer_separator="\nA: ",
        add_eos_token_to_prompt=False,
    )
    sample = render_sample(tokenizer, conversation("sys", "Hi", "Hello"), custom)
    assert sample.text == "S: sys<|im_end|>\nQ: Hi\nA: Hello<|im_end|>"
    assert trained_texts(sample) == ["Hello<|im_end|>"]


def test_empty_system_is_omitted(tokenizer):
    chat = render_sample(tokenizer, conversation("", "Hi", "Hello"), TemplateSettings())
    markers = render_sample(tokenizer, conversation("", "Hi", "Hello"), MARKERS)

    assert "system" not in chat.text
    assert markers.text == "<|prompt|>Hi<|im_end|><|answer|>Hello<|im_end|>"


def test_tokenizer_without_chat_template_falls_back_to_markers(tiny_model_dir):
    tokenizer = _load(tiny_model_dir)
    tokenizer.chat_template = None

    sample = render_sample(tokenizer, conversation("", "Hi", "Hello"), TemplateSettings())

    assert sample.text == "<|prompt|>Hi<|im_end|><|answer|>Hello<|im_end|>"


def test_template_that_rewrites_history_is_refused(tiny_model_dir):
    tokenizer = _load(tiny_model_dir)
    tokenizer.chat_template = DROP_EARLIER_ANSWERS

    single = render_sample(tokenizer, conversation("", "Hi", "Hello"), TemplateSettings())
    assert trained_texts(single) == ["Hello<|im_end|>\n"]
    with pytest.raises(StudioError, match="cannot be used for training") as error:
        render_sample(tokenizer, conversation("", "u1", "a1", "u2", "a2"), TemplateSettings())
    assert "use_chat_template: false" in str(error.value)
    markers = render_sample(tokenizer, conversation("", "u1", "a1", "u2", "a2"), MARKERS)
    assert trained_texts(markers) == ["a1<|im_end|>", "a2<|im_end|>"]


def test_template_failure_is_a_studio_error(tiny_model_dir):
    tokenizer = _load(tiny_model_dir)
    tokenizer.chat_template = NO_SYSTEM_ROLE

    assert render_sample(tokenizer, conversation("", "Hi", "Hello"), TemplateSettings()).text
    with pytest.raises(StudioError, match="System role not supported"):
        render_sample(tokenizer, conversation("Sys", "Hi", "Hello"), TemplateSettings())


def test_missing_eos_token_is_reported():
    tokenizer = SimpleNamespace(eos_token=None, chat_template=None)

    assert (
        render_sample(tokenizer, conversation("", "Hi", "Hello"), NO_EOS).text
        == "<|prompt|>Hi<|answer|>Hello"
    )
    with pytest.raises(StudioError, match="end-of-sequence"):
        render_sample(tokenizer, conversation("", "Hi", "Hello"), MARKERS)


def test_render_prompt_ends_with_the_generation_cue(tokenizer):
    history = (Message("user", "u1"), Message("assistant", "a1"), Message("user", "u2"))

    chat = render_prompt(tokenizer, "Sys", history, TemplateSettings())
    markers = render_prompt(tokenizer, "Sys", history, MARKERS)

    assert chat == (
        "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nu1<|im_end|>\n"
        "<|im_start|>assistant\na1<|im_end|>\n<|im_start|>user\nu2<|im_end|>\n<|im_start|>assistant\n"
    )
    assert markers == (
        "<|system|>Sys<|im_end|><|prompt|>u1<|im_end|><|answer|>a1<|im_end|><|prompt|>u2<|im_end|><|answer|>"
    )
    for settings, prompt in ((TemplateSettings(), chat), (MARKERS, markers)):
        full = render_sample(tokenizer, conversation("Sys", "u1", "a1", "u2", "a2"), settings)
        assert full.text.startswith(prompt)
        assert full.trained_char_spans[-1][0] == len(prompt)


def test_render_prompt_needs_a_final_user_turn(tokenizer):
    with pytest.raises(ValueError, match="user turn"):
        render_prompt(tokenizer, "", (Message("user", "u1"), Message("assistant", "a1")), TemplateSettings())
    with pytest.raises(ValueError, match="user turn"):
        render_prompt(tokenizer, "", (), MARKERS)


def test_format_marked_brackets_trained_spans(tokenizer):
    sample = render_sample(tokenizer, conversation("", "u1", "a1", "u2", "a2"), MARKERS)

    assert format_marked(sample) == (
        "<|prompt|>u1<|im_end|><|answer|>[[a1<|im_end|>]]<|prompt|>u2<|im_end|><|answer|>[[a2<|im_end|>]]"
    )


def test_trained_spans_merge_adjacent_segments():
    sample = RenderedSample("abcdef", (Segment("ab", False), Segment("cd", True), Segment("ef", True)))

    assert sample.trained_char_spans == [(2, 6)]
    assert format_marked(sample) == "ab[[cdef]]"
