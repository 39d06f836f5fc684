"""Validation metrics and batched answer generation on the tiny model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from studio_desktop.core.config_sections import PredictionSection
from studio_desktop.core.evaluation import (
    PREDICTION_COLUMNS,
    ValidationReport,
    corpus_bleu,
    cut_at_stop,
    evaluate_generations,
    generate_answers,
    generation_kwargs,
    perplexity,
    rouge_l_scores,
    save_predictions,
    sentence_bleu_scores,
    stop_strings,
)

QUESTIONS = ("Hello there", "What is LoRA rank? Tell me about the learning rate and the batch size", "a")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path):
    """The tiny model with larger random weights: the saved ones are so small that greedy decoding repeats
    the last prompt token, whereas these give varied text that depends on the whole prompt."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


@pytest.fixture(scope="module")
def prompts(tokenizer) -> list[str]:
    chats = [[{"role": "user", "content": question}] for question in QUESTIONS]
    return [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) for chat in chats]


def direct_greedy(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """The new text of one unbatched greedy ``model.generate`` call."""
    import torch

    encoded = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)


def greedy(max_new_tokens: int = 12, **values) -> PredictionSection:
    return PredictionSection(max_length_inference=max_new_tokens, min_length_inference=0, **values)


def test_bleu_of_identical_and_disjoint_answers() -> None:
    assert sentence_bleu_scores(["the cat sat on the mat", "cat"], ["the cat sat on the mat", "cat"]) == [
        pytest.approx(100.0),
        pytest.approx(100.0),
    ]
    assert sentence_bleu_scores(["one two three"], ["four five six"]) == [0.0]
    assert corpus_bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)
    assert corpus_bleu([], []) == 0.0


def test_bleu_of_a_partial_overlap_matches_the_formula() -> None:
    # n-gram precisions 4/5, 3/4, 2/3, 1/2; equal lengths: no brevity penalty.
    expected = 100 * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert sentence_bleu_scores(["a b c d e"], ["a b c d f"]) == [pytest.approx(expected, abs=1e-6)]
    assert corpus_bleu(["a b c d e"], ["a b c d f"]) == pytest.approx(expected, abs=1e-6)


def test_rouge_l_of_identical_disjoint_and_partial_answers() -> None:
    scores = rouge_l_scores(
        ["the cat sat on the mat", "one two", "the cat sat on the mat", "the cat sat"],
        ["the cat sat on the mat", "three four", "the cat is on the mat", "the cat sat on the mat"],
    )
    # LCS 5 of 6 words both ways; LCS 3: precision 1, recall 1/2, F = 2/3.
    assert scores == [1.0, 0.0, pytest.approx(5 / 6), pytest.approx(2 / 3)]


def test_rouge_l_reads_words_of_any_script() -> None:
    scores = rouge_l_scores(["Привет мир", "Привет мир", "我爱你"], ["привет мир", "Привет друг", "我爱他"])
    assert scores == [pytest.approx(1.0), pytest.approx(0.5), pytest.approx(2 / 3)]


def test_empty_answers_score_zero_unless_both_are_empty() -> None:
    assert rouge_l_scores(["", "text", " "], ["text", "", ""]) == [0.0, 0.0, 1.0]
    assert sentence_bleu_scores(["", "text", " "], ["text", "", ""]) == [0.0, 0.0, 100.0]
    assert rouge_l_scores(["!!!"], ["?"]) == [0.0]


def test_metrics_reject_lists_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 texts to compare with 1"):
        rouge_l_scores(["a", "b"], ["a"])


def test_perplexity_is_exp_of_the_loss_and_inf_on_overflow() -> None:
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(5.0)) == pytest.approx(5.0)
    assert perplexity(1000.0) == math.inf
    assert perplexity(math.inf) == math.inf
    assert math.isnan(perplexity(math.nan))


def test_stop_strings_split_at_commas_and_keep_line_breaks() -> None:
    assert stop_strings(PredictionSection(stop_tokens="User:, ###,,\n")) == ["User:", "###", "\n"]
    assert stop_strings(PredictionSection()) == []
    assert cut_at_stop("answer ### more User: x", ["User:", "###"]) == "answer "
    assert cut_at_stop("answer", ["###"]) == "answer"


def test_generation_kwargs_greedy(tokenizer) -> None:
    kwargs = generation_kwargs(PredictionSection(max_length_inference=7, min_length_inference=9), tokenizer)
    assert kwargs == {
        "max_new_tokens": 7,
        "min_new_tokens": 7,
        "num_beams": 1,
        "repetition_penalty": 1.0,
        "do_sample": False,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    # Sampling at temperature 0 is the greedy limit.
    assert (
        generation_kwargs(PredictionSection(do_sample=True, temperature=0.0), tokenizer)["do_sample"] is False
    )


def test_generation_kwargs_sampling_time_limit_and_stops(tokenizer, model) -> None:
    section = PredictionSection(
        do_sample=True, temperature=0.7, top_k=0, top_p=0.9, max_time=2.5, num_beams=2, stop_tokens="###"
    )
    kwargs = generation_kwargs(section, tokenizer, model)
    assert kwargs["do_sample"] is True
    assert (kwargs["temperature"], kwargs["top_k"], kwargs["top_p"]) == (0.7, 0, 0.9)
    assert (kwargs["max_time"], kwargs["num_beams"]) == (2.5, 2)
    assert kwargs["stop_strings"] == ["###"]
    assert kwargs["tokenizer"] is tokenizer
    assert "max_time" not in generation_kwargs(PredictionSection(), tokenizer)


def test_generation_kwargs_keeps_the_models_end_of_sequence_ids(tokenizer, model) -> None:
    from transformers import GenerationConfig

    class Holder:
        generation_config = GenerationConfig(eos_token_id=[5, tokenizer.eos_token_id])

    assert generation_kwargs(PredictionSection(), tokenizer, Holder())["eos_token_id"] == [
        tokenizer.eos_token_id,
        5,
    ]


def test_greedy_answers_equal_direct_generate(model, tokenizer, prompts) -> None:
    answers = generate_answers(model, tokenizer, prompts[:1], greedy(), batch_size=1)
    expected = direct_greedy(model, tokenizer, prompts[0], 12).strip()
    assert expected
    assert answers == [expected]
    assert generate_answers(model, tokenizer, prompts[:1], greedy(), batch_size=1) == answers


def test_batched_left_padded_answers_equal_unbatched(model, tokenizer, prompts) -> None:
    lengths = {len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts}
    assert len(lengths) == len(prompts)
    unbatched = [direct_greedy(model, tokenizer, prompt, 12).strip() for prompt in prompts]
    assert len(set(unbatched)) == len(prompts)
    side = tokenizer.padding_side
    calls: list[tuple[int, int]] = []
    batched = generate_answers(model, tokenizer, prompts, greedy(), batch_size=2, progress=_record(calls))
    assert batched == unbatched
    assert generate_answers(model, tokenizer, prompts, greedy(), batch_size=8) == unbatched
    assert calls == [(2, 3), (3, 3)]
    assert tokenizer.padding_side == side


def test_max_new_tokens_is_respected(model, tokenizer, prompts) -> None:
    import torch

    encoded = tokenizer(prompts[1], add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=20, do_sample=False)
    new_tokens = output[0, encoded["input_ids"].shape[1] :]
    assert len(new_tokens) == 20
    first_five = tokenizer.decode(new_tokens[:5], skip_special_tokens=True).strip()
    assert generate_answers(model, tokenizer, prompts[1:2], greedy(5), batch_size=1) == [first_five]


def test_answers_are_cut_at_the_first_stop_string(model, tokenizer, prompts) -> None:
    full = direct_greedy(model, tokenizer, prompts[1], 20)
    stop = full.strip()[6:10]
    assert stop and "," not in stop and stop.strip(" ") == stop
    expected = full[: full.index(stop)].strip()
    section = greedy(20, stop_tokens=f"never-there,{stop}")
    answers = generate_answers(model, tokenizer, prompts, section, batch_size=3)
    assert answers[1] == expected
    assert all(stop not in answer for answer in answers)


def test_generation_restores_training_mode(model, tokenizer, prompts) -> None:
    model.train()
    try:
        generate_answers(model, tokenizer, prompts[:1], greedy(2), batch_size=1)
        assert model.training
    finally:
        model.eval()
    assert generate_answers(model, tokenizer, [], greedy(2), batch_size=1) == []
    with pytest.raises(ValueError, match="batch_size"):
        generate_answers(model, tokenizer, prompts, greedy(2), batch_size=0)


def test_evaluate_generations_and_save_predictions(tmp_path: Path) -> None:
    import pandas as pd

    metrics, frame = evaluate_generations(
        ["q1", "q2, with comma"], ["the cat sat", "één twee\ndrie"], ["the cat sat", "a lone\rreturn"]
    )
    assert metrics == {"val/bleu": pytest.approx(50.0), "val/rouge_l": pytest.approx(0.5)}
    assert tuple(frame.columns) == PREDICTION_COLUMNS
    assert frame["rouge_l"].tolist() == [1.0, 0.0]
    path = save_predictions(frame, tmp_path / "run" / "predictions.csv")
    read = pd.read_csv(path, encoding="utf-8", keep_default_na=False)
    assert read["target"].tolist() == ["the cat sat", "één twee\ndrie"]
    assert read["prompt"].tolist() == ["q1", "q2, with comma"]
    assert read["prediction"].tolist() == ["the cat sat", "a lone\rreturn"]  # a row still, not two
    assert read["rouge_l"].dtype.kind == "f"
    assert [p.name for p in path.parent.iterdir()] == ["predictions.csv"]


def test_validation_report_scores_and_comparison() -> None:
    low = ValidationReport(loss=math.log(4.0), metrics={"val/bleu": 10.0})
    high = ValidationReport(loss=math.log(2.0), metrics={"val/bleu": 30.0})
    assert low.score("Perplexity") == pytest.approx(4.0)
    assert high.is_better_than(low, "Perplexity")
    assert not low.is_better_than(high, "Perplexity")
    assert high.is_better_than(low, "BLEU")
    assert low.is_better_than(None, "BLEU")
    with pytest.raises(ValueError, match="GPT"):
        low.score("GPT")


def _record(calls: list[tuple[int, int]]):
    return lambda done, total: calls.append((done, total))
