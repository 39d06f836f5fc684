"""GGUF export: written with the gguf package, checked through transformers' GGUF loader, with a Modelfile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio_desktop.core.errors import StudioError
from studio_desktop.core.gguf_export import permute_rotary, rope_theta
from studio_desktop.core.gguf_formats import VERIFIED_TOKENS
from studio_desktop.jobs.exports import export_experiment
from tests.core.test_export import Trained, logits, trained  # noqa: F401 - the module's trained runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def read_fields(path: Path) -> tuple[dict, dict]:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    fields = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.ggml.") and key.split(".")[-1] in ("tokens", "merges", "token_type"):
            fields[key] = len(field.data)
        else:
            fields[key] = field.contents()
    return fields, {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}


def test_the_rotary_permutation_is_what_the_gguf_loader_undoes() -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weights = np.arange(8 * 6 * 3, dtype=np.float32).reshape(8 * 6, 3)  # 8 heads of 6, 3 inputs
    undo = LlamaTensorProcessor(config={"num_attention_heads": 8, "num_key_value_heads": 2})
    back = undo.process(permute_rotary(weights, 8, 8), "blk.0.attn_q.weight").weights
    assert np.array_equal(back, weights) and not np.array_equal(permute_rotary(weights, 8, 8), weights)
    keys = weights[:12]  # 2 key heads of 6
    assert np.array_equal(undo.process(permute_rotary(keys, 8, 2), "blk.0.attn_k.weight").weights, keys)


def test_the_rotary_base_is_read_where_transformers_keeps_it() -> None:
    assert rope_theta({"rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}}) == 100000.0
    assert rope_theta({"rope_theta": 500000.0}) == 500000.0  # older configs
    assert rope_theta({}) == 10000.0


@pytest.mark.parametrize("quant", ["f16", "q8_0", "bf16"])
def test_a_gguf_export_is_verified_and_loads_with_the_merged_models_answers(
    trained: Trained,  # noqa: F811
    quant: str,
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = export_experiment(trained.workdir, trained.catalog, "lora", "gguf", quant=quant)
    assert folder.name == f"lora-{quant}"
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "README.md", f"lora-{quant}.gguf"]
    fields, tensors = read_fields(folder / f"lora-{quant}.gguf")
    assert fields["general.architecture"] == "llama" and fields["llama.block_count"] == 2
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.chat_template"].startswith("{% for")
    assert fields["tokenizer.ggml.eos_token_id"] == 1 and fields["tokenizer.ggml.merges"] > 100
    assert tensors["blk.0.attn_norm.weight"] == "F32"  # norms stay float32
    assert tensors["blk.0.attn_q.weight"] == {"f16": "F16", "q8_0": "Q8_0", "bf16": "BF16"}[quant]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "library_name: gguf" in card and "Verified when it was written: read back with" in card
    first = VERIFIED_TOKENS[quant]
    assert f"its greedy answers to 3 of 3 prompts begin with the merged model's first {first} tokens" in card
    assert f"llama-cli -m lora-{quant}.gguf" in card and "ollama create lora -f Modelfile" in card
    # The file's logits follow the merged model's (the closer the finer the storage).
    merged = export_experiment(trained.workdir, trained.catalog, "lora", "merged", overwrite=True)
    plain = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(folder), gguf_file=f"lora-{quant}.gguf", dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=f"lora-{quant}.gguf")
    text = "<|im_start|>user\nWhat colour is the sky?<|im_end|>\n<|im_start|>assistant\n"
    gap = (logits(plain, tokenizer, text) - logits(loaded, tokenizer, text)).abs().max().item()
    assert gap < {"f16": 0.01, "bf16": 0.05, "q8_0": 0.05}[quant], gap


def test_the_modelfile_lays_prompts_out_as_training_did(trained: Trained) -> None:  # noqa: F811
    chatml = export_experiment(trained.workdir, trained.catalog, "lora", "gguf", quant="q4_0")
    text = (chatml / "Modelfile").read_text(encoding="utf-8")
    assert text.startswith("FROM ./lora-q4_0.gguf\n")
    assert "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>" in text
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER repeat_penalty 1.5" in text
    assert "PARAMETER num_predict 12" in text and "PARAMETER temperature 0" in text
    assert "4-bit (Q4_0, legacy, lower quality)" in (chatml / "README.md").read_text(encoding="utf-8")
    markers = export_experiment(trained.workdir, trained.catalog, "markers", "gguf", quant="f16")
    text = (markers / "Modelfile").read_text(encoding="utf-8")
    assert '{{- if eq .Role "user" }}<|prompt|>{{ .Content }}<|answer|>' in text  # no EOS after the prompt
    assert 'PARAMETER stop "<|prompt|>"' in text


def test_what_gguf_export_cannot_write_is_refused_before_anything_is_written(
    trained: Trained,  # noqa: F811
    tmp_path: Path,
) -> None:
    import json

    from studio_desktop.core.gguf_export import check_exportable

    with pytest.raises(StudioError, match="unknown GGUF quantisation 'q3_k'"):
        export_experiment(trained.workdir, trained.catalog, "lora", "gguf", tmp_path / "x", quant="q3_k")
    assert not (tmp_path / "x").exists()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["Qwen3ForCausalLM"]}), encoding="utf-8")
    with pytest.raises(StudioError, match=r"handles the Llama architecture .* model is Qwen3ForCausalLM"):
        check_exportable(folder)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}), encoding="utf-8")
    sentencepiece = {"model": {"type": "Unigram"}, "decoder": {"type": "Metaspace"}}
    (folder / "tokenizer.json").write_text(json.dumps(sentencepiece), encoding="utf-8")
    with pytest.raises(StudioError, match="handles byte-level BPE tokenizers"):
        check_exportable(folder)
