"""Dataset statistics from one tokenizer pass over the rendered conversations."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from studio_desktop.core.data import tokenize as tokenize_module
from studio_desktop.core.data.stats import DatasetStatistics, compute_statistics
from studio_desktop.core.data.templates import TemplateSettings, render_sample
from studio_desktop.core.errors import StudioError
from tests.support.tokenizers import CountingTokenizer, conversation

CHAT = TemplateSettings()
MARKERS = TemplateSettings(use_chat_template=False)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


CONVERSATIONS = [
    conversation(0, "What is LoRA rank?", "It sets the capacity of the adapter."),
    conversation(1, "Start training", "Watch the loss fall.", system="Answer in one sentence."),
    conversation(
        2,
        "What does the learning rate control?",
        "The step size.",
        "And the batch size?",
        "How many samples each step sees, which sets memory use on the GPU.",
        "Thanks",
        "You are welcome.",
    ),
    conversation(3, "Export the model", "Choose a merged folder, an adapter or GGUF, then export it."),
]


def token_count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("settings", [CHAT, MARKERS], ids=["chat-template", "markers"])
def test_counts_per_conversation_match_separate_tokenization(tokenizer, settings):
    for item in CONVERSATIONS:
        result = compute_statistics([item], tokenizer, settings, max_length=512)
        sample = render_sample(tokenizer, item, settings)
        spans = sample.trained_char_spans
        total = token_count(tokenizer, sample.text)
        answer = sum(token_count(tokenizer, sample.text[start:end]) for start, end in spans)

        assert result.total_tokens.min == result.total_tokens.max == total
        assert abs(result.answer_tokens.max - answer) <= len(spans)
        assert result.prompt_tokens.max == total - result.answer_tokens.max
        assert result.prompt_tokens.max > 0


def test_answer_tokens_are_exact_where_spans_start_and_end_on_token_boundaries(tokenizer):
    # ChatML puts a newline before each answer and a special token after it: no token crosses a span edge.
    for item in CONVERSATIONS:
        sample = render_sample(tokenizer, item, CHAT)
        answer = sum(
            token_count(tokenizer, sample.text[start:end]) for start, end in sample.trained_char_spans
        )

        result = compute_statistics([item], tokenizer, CHAT, max_length=512)

        assert result.answer_tokens.max == answer


def test_counts_turns_and_conversations(tokenizer):
    result = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=512)

    assert result.conversations == 4
    assert result.turns == 6
    assert result.turns_histogram.counts == (3, 0, 1)
    assert result.turns_histogram.edges == (1.0, 2.0, 3.0, 4.0)
    assert result.tokenizer_name == tokenizer.name_or_path
    assert result.max_length == 512


def test_summary_values(tokenizer):
    totals = sorted(token_count(tokenizer, render_sample(tokenizer, c, CHAT).text) for c in CONVERSATIONS)

    result = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=512)

    assert result.total_tokens.min == totals[0]
    assert result.total_tokens.max == totals[-1]
    assert result.total_tokens.mean == pytest.approx(sum(totals) / 4)
    assert result.total_tokens.median == pytest.approx((totals[1] + totals[2]) / 2)
    assert totals[2] <= result.total_tokens.p95 <= totals[3]


def test_truncated_share(tokenizer):
    totals = sorted(token_count(tokenizer, render_sample(tokenizer, c, CHAT).text) for c in CONVERSATIONS)
    assert totals[0] < totals[1]

    assert compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=totals[0]).truncated_share == 0.75
    assert compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=totals[-1]).truncated_share == 0.0
    assert compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=1).truncated_share == 1.0


def test_histograms_cover_every_sample(tokenizer):
    result = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=512, bins=7)

    for lengths in (result.prompt_tokens, result.answer_tokens, result.total_tokens):
        assert sum(lengths.histogram.counts) == 4
        assert len(lengths.histogram.counts) == 7
        assert len(lengths.histogram.edges) == 8
        assert lengths.histogram.edges[0] == lengths.min
        assert lengths.histogram.edges[-1] == lengths.max
    assert sum(result.turns_histogram.counts) == 4


def test_masking_settings_decide_answer_tokens(tokenizer):
    masked = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=512)
    unmasked = compute_statistics(CONVERSATIONS, tokenizer, TemplateSettings(mask_prompt_labels=False), 512)
    last_only = compute_statistics(CONVERSATIONS, tokenizer, TemplateSettings(only_last_answer=True), 512)

    assert unmasked.prompt_tokens.max == 0
    assert unmasked.answer_tokens == unmasked.total_tokens
    assert unmasked.total_tokens == masked.total_tokens
    assert last_only.total_tokens == masked.total_tokens
    assert last_only.answer_tokens.max < masked.answer_tokens.max
    assert last_only.prompt_tokens.max > masked.prompt_tokens.max


def test_round_trip_through_json(tokenizer):
    result = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=20)

    data = json.loads(json.dumps(result.to_dict()))

    assert DatasetStatistics.from_dict(data) == result
    assert isinstance(data["total_tokens"]["histogram"]["counts"], list)
    assert data["truncated_share"] == result.truncated_share


def test_each_text_is_tokenized_once_in_one_call(tokenizer):
    counting = CountingTokenizer(tokenizer)

    compute_statistics(CONVERSATIONS, counting, CHAT, max_length=512)

    assert len(counting.calls) == 1
    assert counting.calls[0] == [render_sample(tokenizer, c, CHAT).text for c in CONVERSATIONS]


def test_large_datasets_are_tokenized_in_chunks_without_repeats(tokenizer, monkeypatch):
    expected = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=512)
    texts = [render_sample(tokenizer, c, CHAT).text for c in CONVERSATIONS]
    monkeypatch.setattr(tokenize_module, "TOKENIZE_CHUNK_CHARS", len(texts[0]) + len(texts[1]))
    counting = CountingTokenizer(tokenizer)

    result = compute_statistics(CONVERSATIONS, counting, CHAT, max_length=512)

    assert counting.calls[0] == texts[:2]
    assert len(counting.calls) == 3
    assert [text for call in counting.calls for text in call] == texts
    assert result == expected


def test_refuses_empty_input_and_bad_arguments(tokenizer):
    with pytest.raises(ValueError, match="no conversations"):
        compute_statistics([], tokenizer, CHAT, max_length=512)
    with pytest.raises(ValueError, match="positive"):
        compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=0)
    with pytest.raises(StudioError, match="fast tokenizer"):
        compute_statistics(CONVERSATIONS, SimpleNamespace(is_fast=False), CHAT, max_length=512)


def test_token_lengths_can_come_from_a_random_sample(tokenizer):
    many = [
        conversation(i, f"Question {i} about {'training ' * (i % 7)}?", f"Answer {i}.") for i in range(60)
    ]
    many[5] = conversation(5, "q", "a", "q2", "a2")

    result = compute_statistics(many, tokenizer, CHAT, max_length=512, sample_size=20, seed=3)
    again = compute_statistics(many, tokenizer, CHAT, max_length=512, sample_size=20, seed=3)
    full = compute_statistics(many, tokenizer, CHAT, max_length=512)

    assert result == again
    assert result.token_samples == 20
    assert result.estimated
    assert sum(result.total_tokens.histogram.counts) == 20
    assert (result.conversations, result.turns, result.turns_histogram) == (
        full.conversations,
        full.turns,
        full.turns_histogram,
    )
    assert full.token_samples == 60
    assert not full.estimated
    assert (
        full.total_tokens.min <= result.total_tokens.min <= result.total_tokens.max <= full.total_tokens.max
    )
    assert compute_statistics(many, tokenizer, CHAT, max_length=512, sample_size=60) == full


def test_statistics_without_a_sample_count_read_as_complete(tokenizer):
    data = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=20).to_dict()
    del data["token_samples"]

    assert DatasetStatistics.from_dict(data).token_samples == 4


def test_a_huge_sample_is_counted_from_a_prefix_and_said_to_be(tokenizer) -> None:
    huge = conversation(9, "Summarise this", "tokens and memory " * 60_000)  # about a million characters
    stats = compute_statistics([*CONVERSATIONS, huge], tokenizer, CHAT, max_length=64)
    assert stats.capped_samples == 1 and stats.capped_chars == 32 * 64
    assert stats.total_tokens.max <= 32 * 64  # counted from 2,048 characters, not a million
    plain = compute_statistics(CONVERSATIONS, tokenizer, CHAT, max_length=64)
    assert plain.capped_samples == 0
    # ... and still counted as longer than max_length
    assert stats.truncated_share == pytest.approx((plain.truncated_share * 4 + 1) / 5)
    assert DatasetStatistics.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats
