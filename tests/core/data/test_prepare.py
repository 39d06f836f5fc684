"""Conversations → token ids and labels, truncation, collation and generation prompts."""

from __future__ import annotations

import pytest

from studio_desktop.core.config_sections import DatasetSection
from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.prepare import (
    DataCollator,
    EncodedSample,
    encode_conversations,
    generation_prompts,
    reference_answers,
    template_settings,
)
from studio_desktop.core.data.templates import TemplateSettings, render_sample
from studio_desktop.core.errors import StudioError
from tests.support.tokenizers import CountingTokenizer, conversation

CHAT = TemplateSettings()
MARKERS = TemplateSettings(use_chat_template=False)
LONG = 10_000
END = "<|im_end|>\n"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


SINGLE = conversation(0, "What is LoRA rank?", "It sets the capacity of the adapter.")
MULTI = conversation(
    1,
    "What does the learning rate control?",
    "The step size.",
    "And the batch size?",
    "How many samples each step sees.",
    system="Answer in one sentence.",
)
LONG_PROMPT = conversation(2, "Questions about data, models and training. " * 20, "Watch the loss fall.")
LONG_ANSWER = conversation(3, "Export the model", "Choose a merged folder, an adapter or GGUF. " * 20)
BOTH_LONG = conversation(4, "The quick brown fox jumps. " * 20, "The lazy dog sleeps. " * 20)


def decode(tokenizer, ids) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)


def labelled_runs(tokenizer, sample: EncodedSample) -> list[str]:
    """The decoded text of each run of consecutive trained tokens."""
    runs: list[list[int]] = []
    previous_trained = False
    for token, label in zip(sample.input_ids, sample.labels, strict=True):
        trained = label != -100
        if trained:
            assert label == token
            if not previous_trained:
                runs.append([])
            runs[-1].append(token)
        previous_trained = trained
    return [decode(tokenizer, run) for run in runs]


def encode_one(tokenizer, item: Conversation, settings: TemplateSettings = CHAT, max_length: int = LONG):
    (sample,) = encode_conversations(tokenizer, [item], settings, max_length)
    return sample


def prompt_token_count(tokenizer, item: Conversation) -> int:
    (prompt,) = generation_prompts(tokenizer, [item], CHAT)
    return len(tokenizer(prompt, add_special_tokens=False)["input_ids"])


def test_template_settings_follow_the_dataset_section():
    section = DatasetSection(
        use_chat_template=False,
        text_system_start="<S>",
        text_prompt_start="<P>",
        text_answer_separator="<A>",
        add_eos_token_to_system=False,
        add_eos_token_to_prompt=True,
        add_eos_token_to_answer=False,
        mask_prompt_labels=False,
        only_last_answer=True,
    )
    assert template_settings(section) == TemplateSettings(
        use_chat_template=False,
        text_system_start="<S>",
        text_prompt_start="<P>",
        text_answer_separator="<A>",
        add_eos_token_to_system=False,
        add_eos_token_to_prompt=True,
        add_eos_token_to_answer=False,
        mask_prompt_labels=False,
        only_last_answer=True,
    )
    assert template_settings(DatasetSection()) == TemplateSettings()


def test_answer_tokens_are_labelled_with_their_ids_and_the_rest_is_ignored(tokenizer):
    sample = encode_one(tokenizer, SINGLE)
    text = render_sample(tokenizer, SINGLE, CHAT).text

    assert decode(tokenizer, sample.input_ids) == text
    assert labelled_runs(tokenizer, sample) == [SINGLE.answer + END]
    first = sample.labels.index(tokenizer.convert_tokens_to_ids("I"))
    assert set(sample.labels[:first]) == {-100}
    assert sample.labels[first:] == sample.input_ids[first:]
    assert sample.trained_tokens == len(sample) - first


def test_special_tokens_are_single_ids(tokenizer):
    sample = encode_one(tokenizer, MULTI)
    start, end = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])

    assert sample.input_ids.count(start) == 5
    assert sample.input_ids.count(end) == 5
    assert sample.input_ids[-2:] == (end, tokenizer.convert_tokens_to_ids("Ċ"))


def test_every_answer_is_trained_in_a_multi_turn_conversation(tokenizer):
    sample = encode_one(tokenizer, MULTI)
    assert labelled_runs(tokenizer, sample) == [
        "The step size." + END,
        "How many samples each step sees." + END,
    ]


def test_only_last_answer_trains_the_final_answer(tokenizer):
    settings = TemplateSettings(only_last_answer=True)
    sample = encode_one(tokenizer, MULTI, settings)

    assert labelled_runs(tokenizer, sample) == [MULTI.answer + END]
    assert sample.input_ids == encode_one(tokenizer, MULTI).input_ids


def test_without_prompt_masking_every_token_is_trained(tokenizer):
    sample = encode_one(tokenizer, MULTI, TemplateSettings(mask_prompt_labels=False))
    assert sample.labels == sample.input_ids
    assert sample.trained_tokens == len(sample)


def test_marker_layout_trains_answer_and_eos(tokenizer):
    sample = encode_one(tokenizer, MULTI, MARKERS)
    text = render_sample(tokenizer, MULTI, MARKERS).text

    assert decode(tokenizer, sample.input_ids) == text
    assert text.startswith("<|system|>Answer in one sentence.<|im_end|><|prompt|>")
    assert labelled_runs(tokenizer, sample) == [
        "The step size.<|im_end|>",
        "How many samples each step sees.<|im_end|>",
    ]


def test_token_straddling_the_answer_start_is_not_trained(tokenizer):
    settings = TemplateSettings(use_chat_template=False, text_answer_separator=" ")
    item = conversation(6, "Question", "sets the capacity.")
    sample = encode_one(tokenizer, item, settings)
    straddling = tokenizer.convert_tokens_to_ids("Ġsets")

    assert straddling in sample.input_ids
    assert sample.labels[sample.input_ids.index(straddling)] == -100
    assert labelled_runs(tokenizer, sample) == [" the capacity.<|im_end|>"]


def test_tokens_straddling_span_ends_are_not_trained_and_truncation_keeps_a_trained_one(tokenizer):
    # " dog" spans the end of the first answer; " lazy" swallows the whole final answer "azy".
    settings = TemplateSettings(
        use_chat_template=False,
        text_prompt_start="og ",
        text_answer_separator=" l",
        add_eos_token_to_prompt=False,
        add_eos_token_to_answer=False,
    )
    item = conversation(7, "Question", "\nThe lazy d", "Again", "azy")
    full = encode_one(tokenizer, item, settings)
    assert decode(tokenizer, full.input_ids) == "og Question l\nThe lazy dog Again lazy"
    assert labelled_runs(tokenizer, full) == ["\nThe lazy"]

    sample = encode_one(tokenizer, item, settings, max_length=4)
    assert decode(tokenizer, sample.input_ids) == "\nThe lazy dog"
    assert sample.labels == (*sample.input_ids[:3], -100)


def test_each_text_is_tokenized_once_in_one_batched_call(tokenizer):
    counting = CountingTokenizer(tokenizer)
    items = [SINGLE, MULTI, LONG_PROMPT, LONG_ANSWER]
    samples = encode_conversations(counting, items, CHAT, max_length=LONG)

    assert counting.calls == [[render_sample(tokenizer, item, CHAT).text for item in items]]
    assert [decode(tokenizer, s.input_ids) for s in samples] == counting.calls[0]


def test_long_prompt_is_left_truncated_and_keeps_its_end(tokenizer):
    full = encode_one(tokenizer, LONG_PROMPT)
    answer_tokens = full.trained_tokens
    assert answer_tokens < 16 < prompt_token_count(tokenizer, LONG_PROMPT) - 16
    sample = encode_one(tokenizer, LONG_PROMPT, max_length=32)

    assert sample.input_ids == full.input_ids[-32:]
    assert sample.labels == full.labels[-32:]
    assert sample.trained_tokens == answer_tokens
    assert decode(tokenizer, sample.input_ids).endswith(
        "training. <|im_end|>\n<|im_start|>assistant\nWatch the loss fall." + END
    )


def test_long_answer_is_right_truncated_and_keeps_its_start(tokenizer):
    full = encode_one(tokenizer, LONG_ANSWER)
    prompt = prompt_token_count(tokenizer, LONG_ANSWER)
    assert prompt <= 20 and full.trained_tokens > 40
    sample = encode_one(tokenizer, LONG_ANSWER, max_length=40)

    assert sample.input_ids == full.input_ids[:40]
    assert sample.trained_tokens == 40 - prompt
    text = decode(tokenizer, sample.input_ids)
    assert text.startswith(
        "<|im_start|>user\nExport the model<|im_end|>\n<|im_start|>assistant\nChoose a merged folder"
    )
    assert not text.endswith(END)


def test_long_prompt_and_answer_share_the_length_equally(tokenizer):
    full = encode_one(tokenizer, BOTH_LONG)
    prompt = prompt_token_count(tokenizer, BOTH_LONG)
    sample = encode_one(tokenizer, BOTH_LONG, max_length=33)

    assert sample.input_ids == full.input_ids[prompt - 16 : prompt + 17]
    assert sample.labels[:16] == (-100,) * 16
    assert sample.labels[16:] == sample.input_ids[16:]
    text = render_sample(tokenizer, BOTH_LONG, CHAT).text
    (prompt_text,) = generation_prompts(tokenizer, [BOTH_LONG], CHAT)
    assert prompt_text.endswith(decode(tokenizer, sample.input_ids[:16]))
    assert text[len(prompt_text) :].startswith(decode(tokenizer, sample.input_ids[16:]))


@pytest.mark.parametrize(
    ("max_length", "prompt_kept", "text"),
    [(1, 0, "I"), (2, 1, "\nI"), (3, 1, "\nIt"), (4, 2, "istant\nIt"), (5, 2, "istant\nIt sets")],
)
def test_tiny_max_length_keeps_the_first_answer_tokens(tokenizer, max_length, prompt_kept, text):
    full = encode_one(tokenizer, SINGLE)
    prompt = prompt_token_count(tokenizer, SINGLE)
    sample = encode_one(tokenizer, SINGLE, max_length=max_length)

    assert decode(tokenizer, sample.input_ids) == text
    assert sample.input_ids == full.input_ids[prompt - prompt_kept : prompt - prompt_kept + max_length]
    assert sample.labels[:prompt_kept] == (-100,) * prompt_kept
    assert sample.labels[prompt_kept:] == sample.input_ids[prompt_kept:]


@pytest.mark.parametrize("settings", [CHAT, MARKERS, TemplateSettings(mask_prompt_labels=False)])
def test_truncated_samples_fit_and_keep_a_trained_token(tokenizer, settings):
    for item in (SINGLE, MULTI, LONG_PROMPT, LONG_ANSWER, BOTH_LONG):
        full = encode_one(tokenizer, item, settings)
        for max_length in (*range(1, 12), *range(12, len(full), 7), len(full), len(full) + 1):
            sample = encode_one(tokenizer, item, settings, max_length)
            assert len(sample) == min(max_length, len(full))
            assert sample.trained_tokens >= 1
            windows = [
                (full.input_ids[i : i + len(sample)], full.labels[i : i + len(sample)])
                for i in range(len(full) - len(sample) + 1)
            ]
            assert (sample.input_ids, sample.labels) in windows


def test_without_prompt_masking_the_final_answer_is_still_right_truncated(tokenizer):
    full = encode_one(tokenizer, LONG_PROMPT, TemplateSettings(mask_prompt_labels=False))
    sample = encode_one(tokenizer, LONG_PROMPT, TemplateSettings(mask_prompt_labels=False), max_length=32)
    assert sample.input_ids == full.input_ids[-32:]


def test_sample_without_trained_tokens_keeps_its_end(tokenizer):
    settings = TemplateSettings(use_chat_template=False, add_eos_token_to_answer=False)
    item = conversation(5, "Questions about data and models. " * 5, "")
    full = encode_one(tokenizer, item, settings)
    sample = encode_one(tokenizer, item, settings, max_length=8)

    assert full.trained_tokens == 0
    assert sample.input_ids == full.input_ids[-8:]
    assert sample.labels == (-100,) * 8


def test_encoding_needs_a_fast_tokenizer_and_a_positive_length(tokenizer):
    class Slow(CountingTokenizer):
        is_fast = False

    with pytest.raises(StudioError, match="fast tokenizer"):
        encode_conversations(Slow(tokenizer), [SINGLE], CHAT, 32)
    with pytest.raises(ValueError, match="max_length"):
        encode_conversations(tokenizer, [SINGLE], CHAT, 0)
    assert encode_conversations(tokenizer, [], CHAT, 32) == []


def test_collator_pads_on_the_right():
    import torch

    collator = DataCollator(pad_token_id=7)
    batch = collator([EncodedSample((1, 2, 3), (-100, 2, 3)), {"input_ids": [4], "labels": [4]}])

    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert all(tensor.dtype == torch.long for tensor in batch.values())
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_collator_pads_to_a_multiple():
    collator = DataCollator(pad_token_id=0, pad_to_multiple_of=4)
    batch = collator([EncodedSample((1, 2, 3, 4, 5), (1, 2, 3, 4, 5))])

    assert batch["input_ids"].shape == (1, 8)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    assert DataCollator(0, pad_to_multiple_of=4)([EncodedSample((1,) * 8, (1,) * 8)])["labels"].shape == (
        1,
        8,
    )


def test_collator_for_tokenizer_uses_the_pad_token(tokenizer):
    assert DataCollator.for_tokenizer(tokenizer).pad_token_id == tokenizer.pad_token_id == 2


def test_tokenized_dataset_feeds_a_data_loader(tokenizer):
    from torch.utils.data import DataLoader, Dataset

    from studio_desktop.core.data.prepare import TokenizedDataset

    samples = encode_conversations(tokenizer, [SINGLE, MULTI, LONG_ANSWER], CHAT, max_length=48)
    dataset = TokenizedDataset(samples)

    assert isinstance(dataset, Dataset)
    assert len(dataset) == 3
    assert dataset.lengths == [len(s) for s in samples]
    assert dataset[1] == {"input_ids": list(samples[1].input_ids), "labels": list(samples[1].labels)}
    loader = DataLoader(dataset, batch_size=3, collate_fn=DataCollator.for_tokenizer(tokenizer))
    (batch,) = list(loader)
    assert batch["input_ids"].shape == (3, max(dataset.lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == dataset.lengths


@pytest.mark.parametrize("settings", [CHAT, MARKERS, TemplateSettings(only_last_answer=True)])
def test_generation_prompt_is_the_text_before_the_final_answer(tokenizer, settings):
    items = [SINGLE, MULTI]
    prompts = generation_prompts(tokenizer, items, settings)
    for item, prompt in zip(items, prompts, strict=True):
        rendered = render_sample(tokenizer, item, settings)
        final = rendered.segments[-1]
        assert final.trained
        assert rendered.text == prompt + final.text
        assert final.text.startswith(item.answer)
    assert prompts[0].endswith("<|im_start|>assistant\n" if settings.use_chat_template else "<|answer|>")
    assert reference_answers(items) == [SINGLE.answer, MULTI.answer]
