"""Write a real GGUF file (F32 tensors, byte-level BPE vocabulary) from the tiny test model."""

from __future__ import annotations

import json
from pathlib import Path

# llama.cpp's tensor names for a Llama checkpoint, keyed by the transformers name (per layer after "blk.N.")
_LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}

# llama.cpp token types
_NORMAL, _CONTROL = 1, 3


def llama_cpp_permute(weights, n_head: int):
    """Reorder q/k rows the way llama.cpp's converter does (interleaved rotary halves per head)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def gguf_tensor_name(hf_name: str) -> str | None:
    """The llama.cpp name of a transformers Llama parameter (None for a tied ``lm_head``)."""
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return None
    _, _, layer, rest = hf_name.split(".", 3)
    module, suffix = rest.rsplit(".", 1)
    return f"blk.{layer}.{_LAYER_NAMES[module]}.{suffix}"


def _tokenizer_fields(model_dir: Path) -> dict:
    """Tokens, token types, merges and special ids from the folder's ``tokenizer.json``."""
    data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = data["model"]["vocab"]
    for added in data.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    assert [vocab[t] for t in tokens] == list(range(len(tokens))), "token ids must be dense"
    special = {added["content"] for added in data.get("added_tokens", []) if added.get("special")}
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    return {
        "tokens": tokens,
        "types": [_CONTROL if token in special else _NORMAL for token in tokens],
        "merges": merges,
        "ids": vocab,
    }


def write_tiny_gguf(model_dir: Path, path: Path, name: str = "tiny-llama") -> Path:
    """Write the Llama in ``model_dir`` (saved by ``build_tiny_model``) as an F32 GGUF file at ``path``."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    tok_config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    chat_template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    fields = _tokenizer_fields(model_dir)
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // n_head
    rope_theta = (config.get("rope_parameters") or {}).get("rope_theta", config.get("rope_theta", 10000.0))

    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(fields["tokens"])
    writer.add_token_types(fields["types"])
    writer.add_token_merges(fields["merges"])
    writer.add_bos_token_id(fields["ids"][tok_config["bos_token"]])
    writer.add_eos_token_id(fields["ids"][tok_config["eos_token"]])
    writer.add_unk_token_id(fields["ids"][tok_config["unk_token"]])
    writer.add_pad_token_id(fields["ids"][tok_config["pad_token"]])
    writer.add_add_bos_token(False)
    writer.add_chat_template(chat_template)

    for hf_name, array in load_file(model_dir / "model.safetensors").items():
        gguf_name = gguf_tensor_name(hf_name)
        if gguf_name is None:
            continue
        weights = np.ascontiguousarray(array, dtype=np.float32)
        if ".attn_q." in gguf_name:
            weights = llama_cpp_permute(weights, n_head)
        elif ".attn_k." in gguf_name:
            weights = llama_cpp_permute(weights, n_kv)
        writer.add_tensor(gguf_name, np.ascontiguousarray(weights))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_gguf_of_architecture(path: Path, architecture: str) -> Path:
    """A valid GGUF file that only states its architecture (and holds one small tensor)."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(path, arch=architecture)
    writer.add_name("unsupported")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
