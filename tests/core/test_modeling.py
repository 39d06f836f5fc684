"""Loading backbones, LoRA/QLoRA/full fine-tuning set-up, saving and reloading, on the tiny Llama."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from studio_desktop.core.config import ExperimentConfig, default_config
from studio_desktop.core.config_sections import EnvironmentSection
from studio_desktop.core.errors import BackboneError, ConfigError
from studio_desktop.core.modeling import (
    count_parameters,
    load_backbone,
    load_trained,
    merge_adapter,
    pick_device,
    prepare_for_training,
    save_trained,
)
from studio_desktop.core.precision import fastest_dense
from studio_desktop.core.torch_devices import device_facts

EVERY_LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def make_cfg(**values: Any) -> ExperimentConfig:
    """Default config in float32 without checkpointing, with ``section__field=value`` overrides."""
    changes = {"architecture.backbone_dtype": "float32", "architecture.gradient_checkpointing": False}
    changes.update({key.replace("__", "."): value for key, value in values.items()})
    return default_config().replace(changes)


def trainable(folder: Path, cfg: ExperimentConfig) -> Any:
    return prepare_for_training(load_backbone(folder, cfg, "cpu"), cfg)


def batch(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(4, 400, (2, 12), generator=generator)


def train_steps(model: Any, steps: int = 3) -> None:
    """A few AdamW steps with a large learning rate so that every trainable weight moves."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(steps):
        ids = batch(step)
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def logits(model: Any) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=batch(99)).logits.float()


def lora_layer_names(model: Any) -> list[str]:
    return [name for name, module in model.named_modules() if hasattr(module, "lora_A")]


def dense_parameter_count(config: Any) -> int:
    """Parameters of the tiny Llama from its configuration (tied embeddings counted once)."""
    hidden, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 4 * hidden * hidden + 3 * hidden * inter + 2 * hidden
    return config.vocab_size * hidden + layers * per_layer + hidden


def lora_parameter_count(config: Any, r: int) -> int:
    hidden, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return layers * r * (4 * 2 * hidden + 3 * (hidden + inter))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_pick_device_falls_back_to_cpu() -> None:
    assert pick_device(EnvironmentSection()) == "cpu"
    assert pick_device(EnvironmentSection(gpus=("1",))) == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pick_device_uses_selected_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert pick_device(EnvironmentSection()) == "cuda:0"
    assert pick_device(EnvironmentSection(gpus=("0",))) == "cuda:0"
    with pytest.raises(ConfigError, match="visible"):
        pick_device(EnvironmentSection(gpus=(str(torch.cuda.device_count()),)))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    assert pick_device(EnvironmentSection(gpus=("7",))) == "cuda:0"


def test_lora_defaults_adapt_every_linear_layer_and_train_only_adapters(tiny_model_dir: Path) -> None:
    cfg = make_cfg()
    model = trainable(tiny_model_dir, cfg)
    names = lora_layer_names(model)
    config = model.get_base_model().config
    assert len(names) == len(EVERY_LINEAR) * config.num_hidden_layers
    assert {name.rsplit(".", 1)[-1] for name in names} == EVERY_LINEAR
    trained = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trained and all("lora_A" in name or "lora_B" in name for name in trained)
    assert model.training
    assert count_parameters(model)[0] == lora_parameter_count(config, cfg.training.lora_r)


def test_explicit_target_modules(tiny_model_dir: Path) -> None:
    model = trainable(tiny_model_dir, make_cfg(training__lora_target_modules=" q_proj, v_proj "))
    assert {name.rsplit(".", 1)[-1] for name in lora_layer_names(model)} == {"q_proj", "v_proj"}


def test_unknown_target_module_is_a_config_error(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="lora_target_modules"):
        trainable(tiny_model_dir, make_cfg(training__lora_target_modules="no_such_proj"))


@pytest.mark.parametrize(("dora", "rslora"), [(False, False), (True, False), (False, True)])
def test_dora_and_rslora_reach_the_adapters(tiny_model_dir: Path, dora: bool, rslora: bool) -> None:
    cfg = make_cfg(training__use_dora=dora, training__use_rslora=rslora, training__lora_r=4)
    model = trainable(tiny_model_dir, cfg)
    lora_cfg = model.peft_config["default"]
    assert (lora_cfg.use_dora, lora_cfg.use_rslora, lora_cfg.bias) == (dora, rslora, "none")
    layer = model.get_base_model().model.layers[0].self_attn.q_proj
    assert bool(layer.lora_magnitude_vector) == dora
    alpha, r = cfg.training.lora_alpha, cfg.training.lora_r
    assert layer.scaling["default"] == pytest.approx(alpha / math.sqrt(r) if rslora else alpha / r)


def test_lora_unfreeze_layers_are_trained_fully(tiny_model_dir: Path) -> None:
    model = trainable(tiny_model_dir, make_cfg(training__lora_unfreeze_layers=("input_layernorm",)))
    full = [name for name, p in model.named_parameters() if p.requires_grad and "lora_" not in name]
    assert len(full) == model.get_base_model().config.num_hidden_layers
    assert all("input_layernorm.modules_to_save" in name for name in full)


def test_full_fine_tune_freezes_named_layers(tiny_model_dir: Path) -> None:
    cfg = make_cfg(training__lora=False, training__freeze_layers=("embed_tokens", "layers.0."))
    model = trainable(tiny_model_dir, cfg)
    assert model.training
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert "model.embed_tokens.weight" in frozen
    assert frozen == {name for name, _ in model.named_parameters() if "embed" in name or "layers.0." in name}
    frozen_count = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    trained, total = count_parameters(model)
    assert (trained, total) == (total - frozen_count, dense_parameter_count(model.config))
    ids = batch()
    model(input_ids=ids, labels=ids).loss.backward()
    assert model.model.layers[0].self_attn.q_proj.weight.grad is None
    assert model.model.layers[1].self_attn.q_proj.weight.grad is not None


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_float_dtypes_load_as_configured_with_float32_adapters(tiny_model_dir: Path, dtype: str) -> None:
    model = trainable(tiny_model_dir, make_cfg(architecture__backbone_dtype=dtype))
    base = model.get_base_model()
    assert base.model.layers[0].mlp.up_proj.base_layer.weight.dtype == getattr(torch, dtype)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    ids = batch()
    model(input_ids=ids, labels=ids).loss.backward()


@pytest.mark.parametrize(("dtype", "layer_class"), [("int8", "Linear8bitLt"), ("int4", "Linear4bit")])
def test_quantized_lora_step_gives_finite_gradients(
    tiny_model_dir: Path, dtype: str, layer_class: str
) -> None:
    cfg = make_cfg(architecture__backbone_dtype=dtype, architecture__gradient_checkpointing=True)
    model = trainable(tiny_model_dir, cfg)
    base_layer = model.get_base_model().model.layers[0].mlp.down_proj.base_layer
    assert type(base_layer).__name__ == layer_class
    if dtype == "int4":  # autocast's type: bfloat16 where the CPU computes it natively, else float32
        native = device_facts("cpu").native_bf16
        assert base_layer.compute_dtype == (torch.bfloat16 if native else torch.float32)
        assert base_layer.weight.quant_state.nested  # double quantisation
        assert base_layer.weight.quant_type == "nf4"
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # zero at first, which would leave lora_A without gradient
            torch.nn.init.normal_(parameter, std=0.1)
    ids = batch()
    model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    config = model.get_base_model().config
    assert count_parameters(model) == (
        lora_parameter_count(config, cfg.training.lora_r),
        dense_parameter_count(config) + lora_parameter_count(config, cfg.training.lora_r),
    )


@pytest.mark.parametrize("lora", [True, False])
@pytest.mark.parametrize("checkpointing", [True, False])
def test_gradient_checkpointing_reaches_the_model(
    tiny_model_dir: Path, lora: bool, checkpointing: bool
) -> None:
    cfg = make_cfg(training__lora=lora, architecture__gradient_checkpointing=checkpointing)
    model = load_backbone(tiny_model_dir, cfg, "cpu")
    if not checkpointing:
        model.activation_checkpointing_enable()  # the setting also turns it off
    model = prepare_for_training(model, cfg)
    base = model.get_base_model() if lora else model
    assert base.is_activation_checkpointing == checkpointing
    assert all(layer.gradient_checkpointing == checkpointing for layer in base.model.layers)
    ids = batch()
    model(input_ids=ids, labels=ids).loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_config_overrides_reach_the_model(tiny_model_dir: Path) -> None:
    cfg = make_cfg(architecture__intermediate_dropout=0.2, training__attention_implementation="eager")
    model = load_backbone(tiny_model_dir, cfg, "cpu")
    assert model.config.attention_dropout == pytest.approx(0.2)
    assert model.config.use_cache is False
    assert model.config._attn_implementation == "eager"
    auto = load_backbone(tiny_model_dir, make_cfg(), "cpu")
    assert auto.config._attn_implementation != "eager"  # auto lets transformers pick (sdpa here)


def test_load_errors_are_user_errors(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BackboneError, match="not found"):
        load_backbone(tmp_path / "missing", make_cfg(), "cpu")
    with pytest.raises(BackboneError, match=r"no config\.json"):
        load_backbone(tmp_path, make_cfg(), "cpu")
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(BackboneError, match="Cannot load the model"):
        load_backbone(no_weights, make_cfg(), "cpu")
    with pytest.raises(ConfigError, match="float16"):
        load_backbone(
            tiny_model_dir, make_cfg(architecture__backbone_dtype="float16", training__lora=False), "cpu"
        )
    with pytest.raises(ConfigError, match="flash_attention_2"):
        load_backbone(tiny_model_dir, make_cfg(training__attention_implementation="flash_attention_2"), "cpu")


def test_adapter_round_trip_and_merge(tiny_model_dir: Path, tmp_path: Path) -> None:
    cfg = make_cfg(architecture__gradient_checkpointing=True)
    model = trainable(tiny_model_dir, cfg)
    train_steps(model)
    model.eval()
    expected = logits(model)
    with model.disable_adapter():
        assert not torch.allclose(logits(model), expected, atol=1e-3)  # the adapter changes the output
    tokenizer = pytest.importorskip("transformers").AutoTokenizer.from_pretrained(str(tiny_model_dir))
    out = save_trained(model, tokenizer, tmp_path / "run" / "output")
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert (out / "tokenizer.json").is_file() and not (out / "model.safetensors").exists()
    assert [p.name for p in out.parent.iterdir()] == ["output"]

    loaded, loaded_tokenizer = load_trained(out, tiny_model_dir, cfg, "cpu")
    assert not loaded.training and loaded_tokenizer.pad_token == tokenizer.pad_token
    assert torch.allclose(logits(loaded), expected, atol=1e-5)
    merged, _ = load_trained(out, tiny_model_dir, cfg, "cpu", merge=True)
    assert not lora_layer_names(merged) and type(merged).__name__ == "LlamaForCausalLM"
    assert merged.config.use_cache is True
    assert torch.allclose(logits(merged), expected, atol=1e-5)
    assert torch.allclose(logits(merge_adapter(loaded)), expected, atol=1e-5)


def test_save_replaces_an_existing_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    out = tmp_path / "output"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    save_trained(trainable(tiny_model_dir, make_cfg()), tokenizer, out)
    assert not (out / "stale.txt").exists() and (out / "adapter_config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["output"]


def test_full_model_round_trip(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    cfg = make_cfg(training__lora=False)
    model = trainable(tiny_model_dir, cfg)
    before = logits(model)
    train_steps(model, steps=1)
    model.eval()
    expected = logits(model)
    assert not torch.allclose(before, expected, atol=1e-3)
    out = save_trained(model, AutoTokenizer.from_pretrained(str(tiny_model_dir)), tmp_path / "output")
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert model.config.use_cache is False  # saving for inference leaves the training model as it was
    loaded, _ = load_trained(out, tmp_path / "unused", cfg, "cpu", merge=True)
    assert loaded.config.use_cache is True and not loaded.training
    assert torch.allclose(logits(loaded), expected, atol=1e-6)


def test_quantized_run_reloads_densely(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    cfg = make_cfg(architecture__backbone_dtype="int4")
    model = trainable(tiny_model_dir, cfg)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.1)
    with pytest.raises(BackboneError, match="4-bit or 8-bit"):
        merge_adapter(model)
    out = save_trained(model, AutoTokenizer.from_pretrained(str(tiny_model_dir)), tmp_path / "output")
    loaded, _ = load_trained(out, tiny_model_dir, cfg, "cpu")
    base = loaded.get_base_model()
    assert getattr(base, "hf_quantizer", None) is None
    assert type(base.model.layers[0].mlp.up_proj.base_layer).__name__ == "Linear"
    dense = getattr(torch, fastest_dense(device_facts("cpu")))
    assert base.model.layers[0].mlp.up_proj.base_layer.weight.dtype == dense
    saved = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert saved and all(torch.equal(p, saved[n]) for n, p in loaded.named_parameters() if "lora_" in n)
    merged = merge_adapter(loaded)
    tolerance = 1e-5 if dense == torch.float32 else 5e-2
    assert torch.allclose(
        logits(merged), logits(load_trained(out, tiny_model_dir, cfg, "cpu")[0]), atol=tolerance
    )
