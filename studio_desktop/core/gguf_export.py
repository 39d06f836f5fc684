"""Write a merged model folder as one GGUF file (llama.cpp, Ollama, LM Studio) with the gguf package, and
verify it: no compiler, no network, no converter script.

Llama-architecture models (SmolLM2, Llama, Mistral's Llama layout) with a byte-level BPE tokenizer are
written: the hyper-parameters, the vocabulary with its merges, special tokens and chat template, and every
weight under llama.cpp's tensor names, the query and key projections permuted to its rotary layout.
One-dimensional tensors (norms) stay float32, as llama.cpp keeps them; the others are stored as ``quant``
asks (a tensor whose rows do not fill the quantisation blocks stays float16). ``verify_gguf`` reads the file
back and loads it through transformers' GGUF loader, whose greedy answers to a few prompts must begin as the
merged model's do. torch, transformers and gguf are imported inside functions only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_desktop.core.errors import StudioError
from studio_desktop.core.gguf_formats import QUANTS

LLAMA_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")
#: Pre-tokenizer names llama.cpp knows, by the vocabulary they come with (SmolLM and SmolLM2: 49,152 tokens).
PRE_TOKENIZERS = {49152: "smollm"}
VERIFY_PROMPTS = ("Hello!", "What is LoRA?", "Name three colours.")
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class GgufWritten:
    """What ``write_gguf`` wrote."""

    path: Path
    quant: str
    tensors: int
    pre_tokenizer: str


@dataclass(frozen=True)
class GgufVerification:
    """The read-back checks and the greedy answers of the merged model and the GGUF file."""

    tensors: int
    chat_template: bool
    eos_token_id: int | None
    prompts: tuple[str, ...]
    matching_prompts: int
    compared_tokens: int

    @property
    def passed(self) -> bool:
        """Every prompt's first tokens agree, and the file has its chat template and end token."""
        return (
            self.chat_template
            and self.eos_token_id is not None
            and self.matching_prompts == len(self.prompts)
        )

    def describe(self) -> str:
        """One sentence for the model card and the export's report."""
        return (
            f"read back with {self.tensors} tensors, chat template "
            f"{'kept' if self.chat_template else 'missing'}, "
            f"end token {self.eos_token_id}; loaded through transformers' GGUF loader, its greedy answers to "
            f"{self.matching_prompts} of {len(self.prompts)} prompts begin with the merged model's first "
            f"{self.compared_tokens} tokens"
        )


def check_exportable(folder: Path) -> dict[str, Any]:
    """The model config of ``folder``; refuses an architecture or tokenizer this writer does not handle."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architectures = config.get("architectures") or []
    if not any(name in LLAMA_ARCHITECTURES for name in architectures):
        raise StudioError(
            f"GGUF export handles the Llama architecture ({', '.join(LLAMA_ARCHITECTURES)}); this model is "
            f"{', '.join(architectures) or 'of an unknown architecture'}. Export it merged or as an adapter."
        )
    rope_type = (config.get("rope_parameters") or {}).get("rope_type", "default")
    if config.get("rope_scaling") or rope_type != "default":
        raise StudioError(
            f"GGUF export writes the default rotary embedding; this model scales it ({rope_type}). "
            "Export it merged or as an adapter."
        )
    tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    model, decoder = tokenizer.get("model", {}), tokenizer.get("decoder") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback") or decoder.get("type") != "ByteLevel":
        raise StudioError(
            "GGUF export handles byte-level BPE tokenizers (GPT-2 style, as SmolLM2's); this model's "
            "tokenizer is not one. Export it merged or as an adapter."
        )
    return config


def rope_theta(config: dict[str, Any]) -> float:
    """The rotary base of a model config (transformers 5 keeps it in ``rope_parameters``)."""
    parameters = config.get("rope_parameters") or {}
    return float(parameters.get("rope_theta", config.get("rope_theta", 10000.0)))


def permute_rotary(weights: Any, heads: int, kv_heads: int) -> Any:
    """A query or key projection in llama.cpp's rotary layout (the inverse of what its loaders undo)."""
    if heads != kv_heads:
        heads = kv_heads
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _vocabulary(folder: Path) -> tuple[list[str], list[int]]:
    """Every token by id, and its type: special (added) tokens are control tokens."""
    import gguf

    tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = dict(tokenizer["model"]["vocab"])
    special = set()
    for added in tokenizer.get("added_tokens") or []:
        vocab.setdefault(added["content"], added["id"])
        if added.get("special"):
            special.add(added["id"])
    by_id = {index: token for token, index in vocab.items()}
    if sorted(by_id) != list(range(len(by_id))):
        raise StudioError("the tokenizer's token ids are not contiguous; it cannot be written as GGUF.")
    tokens = [by_id[index] for index in range(len(by_id))]
    types = [
        int(gguf.TokenType.CONTROL if index in special else gguf.TokenType.NORMAL)
        for index in range(len(tokens))
    ]
    return tokens, types


def _tensor(data: Any, quant: str) -> tuple[Any, Any]:
    """The stored form of one tensor (data, ggml type or None for plain float arrays)."""
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        return data, None  # norms and other vectors stay float32
    kind = QUANTS[quant][0]
    if kind == "F16":
        return data.astype(np.float16), None
    qtype = GGMLQuantizationType[kind]
    block = quants.GGML_QUANT_SIZES[qtype][0]
    if data.shape[-1] % block:
        return data.astype(np.float16), None  # rows that do not fill whole blocks stay float16
    return quants.quantize(data, qtype), qtype


def write_gguf(
    folder: Path, target: Path, quant: str, name: str, progress: Progress | None = None
) -> GgufWritten:
    """Write the merged model in ``folder`` as the GGUF file ``target`` stored as ``quant``."""
    import gguf

    report = progress or (lambda _stage, _fraction: None)
    if quant not in QUANTS:
        raise StudioError(f"unknown GGUF quantisation {quant!r}: expected one of {', '.join(QUANTS)}.")
    config = check_exportable(folder)
    writer = gguf.GGUFWriter(str(target), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    pre = _write_metadata(writer, folder, config, quant, name)
    count = _add_tensors(writer, folder, config, quant, report)
    report("Writing the GGUF file", 0.75)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return GgufWritten(target, quant, count, pre)


def _write_metadata(writer: Any, folder: Path, config: dict[str, Any], quant: str, name: str) -> str:
    """The hyper-parameters and the tokenizer; returns the pre-tokenizer name written."""
    import gguf

    heads = config["num_attention_heads"]
    writer.add_name(name)
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-5))
    writer.add_rope_freq_base(rope_theta(config))
    writer.add_rope_dimension_count(config.get("head_dim") or config["hidden_size"] // heads)
    tokens, types = _vocabulary(folder)
    pre = PRE_TOKENIZERS.get(len(tokens), "default")
    writer.add_vocab_size(len(tokens))
    writer.add_file_type(int(gguf.LlamaFileType[QUANTS[quant][1]]))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)
    return pre


def _add_tensors(writer: Any, folder: Path, config: dict[str, Any], quant: str, report: Progress) -> int:
    """Every weight under its llama.cpp name, stored as ``quant`` asks; returns how many."""
    import gguf
    from safetensors import safe_open

    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    count = 0
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as weights:
            keys = list(weights.keys())
            for index, key in enumerate(keys):
                gguf_name = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if gguf_name is None:
                    raise StudioError(f"GGUF export does not know where the weight {key} goes in llama.cpp.")
                data = weights.get_tensor(key).float().numpy()
                if gguf_name.endswith("attn_q.weight"):
                    data = permute_rotary(data, heads, heads)
                elif gguf_name.endswith("attn_k.weight"):
                    data = permute_rotary(data, heads, kv_heads)
                stored, qtype = _tensor(data, quant)
                writer.add_tensor(gguf_name, stored, raw_dtype=qtype)
                count += 1
                report(f"Converting {key}", 0.1 + 0.6 * (index + 1) / len(keys))
    return count


def verify_gguf(
    path: Path, merged: Path, tokens: int, prompts: Sequence[str] = VERIFY_PROMPTS
) -> GgufVerification:
    """Read ``path`` back, then compare its greedy answers (through transformers' GGUF loader) with those of
    the merged model in ``merged``: the first ``tokens`` tokens of each answer."""
    import torch
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reader = GGUFReader(str(path))
    template = reader.fields.get("tokenizer.chat_template")
    eos = reader.fields.get("tokenizer.ggml.eos_token_id")
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    original = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    matching = 0
    for prompt in prompts:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
        answers = []
        for model in (original, loaded):
            with torch.inference_mode():
                out = model.generate(**ids, max_new_tokens=tokens, do_sample=False)
            answers.append(out[0, ids["input_ids"].shape[1] :].tolist())
        matching += answers[0] == answers[1]
    return GgufVerification(
        tensors=len(reader.tensors),
        chat_template=template is not None,
        eos_token_id=int(eos.contents()) if eos is not None else None,
        prompts=tuple(prompts),
        matching_prompts=matching,
        compared_tokens=tokens,
    )
