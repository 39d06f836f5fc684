"""The bundled backbone, fine-tuned for a few steps, exported as a Q8_0 GGUF file through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio_desktop.core.gguf_formats import VERIFIED_TOKENS
from studio_desktop.core.resources import demo_config_file
from tests.e2e.test_bundled_demo import studio

pytestmark = pytest.mark.slow

PROMPTS = (
    "What is the capital of France?",
    "How do I import a dataset?",
    "Name three colours.",
    "What is LoRA?",
    "Write one sentence about the sea.",
)


def greedy(model, tokenizer, prompt: str, tokens: int) -> list[int]:
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    output = model.generate(**ids, max_new_tokens=tokens, do_sample=False)
    return output[0, ids["input_ids"].shape[1] :].tolist()


def test_a_fine_tuned_bundled_backbone_exports_as_a_q8_0_gguf_that_answers_as_the_merged_model(
    tmp_path: Path,
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    workdir = tmp_path / "workdir"
    assert studio(workdir, "init").returncode == 0
    settings = {"training.epochs": 1, "dataset.data_sample": 0.05, "tokenizer.max_length": 128}
    overrides = [part for key, value in settings.items() for part in ("--set", f"{key}={value}")]
    train = studio(workdir, "train", "--config", str(demo_config_file()), *overrides)
    assert train.returncode == 0, train.stderr
    out = tmp_path / "gguf"
    export = studio(workdir, "export", "studio-desktop-demo", "--format", "gguf", "--out", str(out), "--json")
    assert export.returncode == 0, export.stderr
    result = json.loads(export.stdout)
    assert result["files"] == ["Modelfile", "README.md", "studio-desktop-demo-q8_0.gguf"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "3 of 3 prompts begin with the merged model's first 2 tokens" in card
    merged = tmp_path / "merged"
    assert studio(workdir, "export", "studio-desktop-demo", "--out", str(merged)).returncode == 0
    tokenizer = AutoTokenizer.from_pretrained(merged)
    plain = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
    loaded = AutoModelForCausalLM.from_pretrained(
        out, gguf_file="studio-desktop-demo-q8_0.gguf", dtype=torch.float32
    )
    first = VERIFIED_TOKENS["q8_0"]
    for prompt in PROMPTS:
        assert greedy(plain, tokenizer, prompt, first) == greedy(loaded, tokenizer, prompt, first), prompt
    modelfile = (out / "Modelfile").read_text(encoding="utf-8")
    assert "FROM ./studio-desktop-demo-q8_0.gguf" in modelfile and 'SYSTEM """You are a helpful' in modelfile
