"""The memory planner: shape from config.json, terms, verdicts, and gradient checkpointing on demand."""

from __future__ import annotations

import json
from pathlib import Path

from studio_desktop.core.config import default_config
from studio_desktop.core.memory_plan import FITS, GIB, TIGHT, WILL_NOT_FIT, plan_memory, read_model_shape
from studio_desktop.core.precision import Precision

SMOLLM2_135M = {
    "num_hidden_layers": 30,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
FLOAT32 = Precision("float32", None)


def shape_of(tmp_path: Path, config: dict):
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return read_model_shape(tmp_path)


def test_the_shape_gives_the_published_parameter_count(tmp_path: Path) -> None:
    shape = shape_of(tmp_path, SMOLLM2_135M)
    assert abs(shape.parameters - 134_515_008) / 134_515_008 < 0.01  # the model card's count, norms aside
    assert read_model_shape(tmp_path / "missing") is None
    assert shape_of(tmp_path, {"hidden_size": 8}) is None


def test_terms_follow_precision_lora_and_batch(tmp_path: Path) -> None:
    shape = shape_of(tmp_path, SMOLLM2_135M)
    cfg = default_config().replace({"architecture.gradient_checkpointing": False})
    fp32 = plan_memory(cfg, shape, FLOAT32, available=64 * GIB, cuda=False)
    bf16 = plan_memory(cfg, shape, Precision("bfloat16", "bfloat16"), available=64 * GIB, cuda=False)
    assert fp32.terms["weights"] == 2 * bf16.terms["weights"]
    assert bf16.terms["activations"] * 2 == fp32.terms["activations"]
    full = plan_memory(cfg.replace({"training.lora": False}), shape, FLOAT32, available=64 * GIB, cuda=False)
    assert (
        full.terms["trained parameters and optimizer"] > 20 * fp32.terms["trained parameters and optimizer"]
    )
    bigger = plan_memory(
        cfg.replace({"training.batch_size": 8}), shape, FLOAT32, available=64 * GIB, cuda=False
    )
    assert bigger.terms["activations"] == 4 * fp32.terms["activations"]  # the default batch is 2
    assert fp32.verdict == FITS and "fits: about" in fp32.describe()


def test_auto_checkpointing_turns_on_only_when_the_run_would_not_fit(tmp_path: Path) -> None:
    shape = shape_of(tmp_path, SMOLLM2_135M)
    cfg = default_config().replace({"training.batch_size": 16, "tokenizer.max_length": 2048})
    roomy = plan_memory(cfg, shape, FLOAT32, available=256 * GIB, cuda=False)
    assert not roomy.checkpointing and roomy.verdict == FITS
    without = plan_memory(
        cfg.replace({"architecture.gradient_checkpointing": False}),
        shape,
        FLOAT32,
        available=24 * GIB,
        cuda=False,
    )
    assert without.verdict in (TIGHT, WILL_NOT_FIT) and without.biggest == "activations"
    needed = plan_memory(cfg, shape, FLOAT32, available=24 * GIB, cuda=False)
    assert needed.checkpointing and needed.total < without.total
    forced = plan_memory(
        cfg.replace({"architecture.gradient_checkpointing": True}),
        shape,
        FLOAT32,
        available=256 * GIB,
        cuda=False,
    )
    assert forced.checkpointing


def test_calibration_scales_the_estimate_and_is_kept_apart(tmp_path: Path) -> None:
    shape = shape_of(tmp_path, SMOLLM2_135M)
    cfg = default_config()
    plain = plan_memory(cfg, shape, FLOAT32, available=64 * GIB, cuda=False)
    corrected = plan_memory(cfg, shape, FLOAT32, available=64 * GIB, cuda=False, calibration=1.5)
    assert abs(corrected.total - 1.5 * plain.total) < 10
    assert abs(corrected.uncorrected_total - plain.total) < 10


def test_preference_runs_count_both_answers_and_a_full_fine_tune_its_reference(tmp_path: Path) -> None:
    from studio_desktop.core.problem_types import DPO

    shape = shape_of(tmp_path, SMOLLM2_135M)
    manual = {"architecture.gradient_checkpointing": False}
    sft = plan_memory(default_config().replace(manual), shape, FLOAT32, available=64 * GIB, cuda=False)
    dpo_cfg = default_config(DPO).replace(manual | {"training.batch_size": 2, "tokenizer.max_length": 512})
    sft_same = default_config().replace(manual | {"training.batch_size": 2, "tokenizer.max_length": 512})
    dpo = plan_memory(dpo_cfg, shape, FLOAT32, available=64 * GIB, cuda=False)
    same = plan_memory(sft_same, shape, FLOAT32, available=64 * GIB, cuda=False)
    assert dpo.terms["activations"] == 2 * same.terms["activations"]  # chosen and rejected
    assert dpo.terms["logits"] == 2 * same.terms["logits"]
    assert "reference model" not in dpo.terms and "reference model" not in sft.terms  # LoRA: adapter off
    full = plan_memory(
        dpo_cfg.replace({"training.lora": False}), shape, FLOAT32, available=64 * GIB, cuda=False
    )
    assert full.terms["reference model"] == full.terms["weights"]
    simpo = dpo_cfg.replace({"training.lora": False, "training.loss_function": "SimPOLoss"})
    assert "reference model" not in plan_memory(simpo, shape, FLOAT32, available=64 * GIB, cuda=False).terms
