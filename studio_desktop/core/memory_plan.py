"""An estimate of a run's peak memory before it starts, against what the device has free (no torch).

The terms: the weights at the chosen precision, the trained parameters with their gradients and AdamW state,
the activations kept for the backward pass of ``batch_size × max_length`` tokens (every layer's without
gradient checkpointing, one layer's plus each layer's input with it), the logits and their gradient in
float32, and the framework itself. The shape comes from the backbone's ``config.json``. The verdict is
"fits" below 80 % of the free memory, "tight" below 100 %, "will not fit" above. ``calibration`` scales
the estimate by what earlier runs on this machine measured against their estimates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio_desktop.core.problem_types import DPO, REFERENCE_FREE_LOSSES, SEQUENCES_PER_SAMPLE

if TYPE_CHECKING:
    from studio_desktop.core.config import ExperimentConfig
    from studio_desktop.core.precision import Precision

GIB = 1024**3
WEIGHT_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "int8": 1.0, "int4": 0.55}
FRAMEWORK_BYTES = {False: 0.9 * GIB, True: 0.6 * GIB}  # CPU: torch and Python; CUDA: context and kernels
ACTIVATION_VALUES_PER_TOKEN_LAYER = 34  # x hidden size: kept per layer and token for backward (no recompute)
FITS, TIGHT, WILL_NOT_FIT = "fits", "tight", "will not fit"
CHOICES = ("auto", "true", "false")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that memory depends on."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool

    @property
    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one block: attention q, k, v, o and the gated MLP."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        h, m = self.hidden, self.intermediate
        return [(h, q), (h, kv), (h, kv), (q, h), (h, m), (h, m), (m, h)]

    @property
    def parameters(self) -> int:
        """All weights (norms ignored)."""
        block = sum(i * o for i, o in self.linear_shapes)
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * block + embeddings


def read_model_shape(folder: Path) -> ModelShape | None:
    """The shape in ``folder/config.json`` (its text config for multimodal models); None if unreadable."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = config.get("text_config", config) if isinstance(config, dict) else {}
    try:
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        return ModelShape(
            layers=int(config["num_hidden_layers"]),
            hidden=hidden,
            intermediate=int(config.get("intermediate_size") or 4 * hidden),
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            vocab=int(config["vocab_size"]),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        )
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class MemoryPlan:
    """Estimated peak bytes per term, the free bytes of the device and the verdict."""

    terms: dict[str, int]
    available: int
    checkpointing: bool
    calibration: float = 1.0

    @property
    def uncorrected_total(self) -> int:
        """The estimate before the correction from earlier runs (what a run records for later ones)."""
        return int(self.total / self.calibration)

    @property
    def total(self) -> int:
        return sum(self.terms.values())

    @property
    def verdict(self) -> str:
        if self.total < 0.8 * self.available:
            return FITS
        return TIGHT if self.total < self.available else WILL_NOT_FIT

    @property
    def biggest(self) -> str:
        return max(self.terms, key=self.terms.__getitem__)

    def describe(self) -> str:
        """One line, e.g. ``fits: about 2.1 GiB of 20.3 GiB free (largest: activations 1.2 GiB)``."""
        largest = self.biggest
        return (
            f"{self.verdict}: about {self.total / GIB:.1f} GiB of {self.available / GIB:.1f} GiB free "
            f"(largest: {largest} {self.terms[largest] / GIB:.1f} GiB"
            f"{', gradient checkpointing on' if self.checkpointing else ''})"
        )


def trained_parameters(cfg: ExperimentConfig, shape: ModelShape) -> int:
    """Parameters the run trains: the LoRA adapters of the targeted linear layers, or every weight."""
    if not cfg.training.lora:
        return shape.parameters
    r = cfg.training.lora_r
    names = [name.strip() for name in cfg.training.lora_target_modules.split(",") if name.strip()]
    shapes = shape.linear_shapes
    if names:  # the named modules of the usual Llama-style blocks, in linear_shapes order
        order = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        shapes = [s for name, s in zip(order, shapes, strict=True) if name in names] or shapes
    return shape.layers * sum(r * (i + o) for i, o in shapes)


def estimate_terms(
    cfg: ExperimentConfig, shape: ModelShape, precision: Precision, cuda: bool, checkpointing: bool
) -> dict[str, int]:
    """Peak bytes of each term for ``cfg`` on a device (``cuda`` or the CPU)."""
    weight_bytes = WEIGHT_BYTES.get(precision.weights, 4.0)
    compute_bytes = 2 if precision.autocast else 4
    trained = trained_parameters(cfg, shape)
    # LoRA adapters are float32: weight, gradient and two AdamW moments; a full fine-tune keeps the
    # gradient in the weights' type and the moments in float32.
    per_trained = 16 if cfg.training.lora else weight_bytes + 8
    sequences = SEQUENCES_PER_SAMPLE.get(cfg.problem_type, 1)
    tokens = cfg.training.batch_size * cfg.tokenizer.max_length * sequences
    per_layer = ACTIVATION_VALUES_PER_TOKEN_LAYER * shape.hidden * compute_bytes * tokens
    kept_layers = 1 if checkpointing else shape.layers
    inputs = (shape.layers if checkpointing else 0) * shape.hidden * compute_bytes * tokens
    terms = {
        "weights": int(shape.parameters * weight_bytes),
        "trained parameters and optimizer": int(trained * per_trained),
        "activations": int(per_layer * kept_layers + inputs),
        "logits": int(tokens * shape.vocab * 4 * 2),
        "framework": int(FRAMEWORK_BYTES[cuda]),
    }
    if needs_reference_copy(cfg):
        terms["reference model"] = terms["weights"]
    return terms


def needs_reference_copy(cfg: ExperimentConfig) -> bool:
    """Whether the run holds a frozen copy of the weights as its preference reference."""
    return (
        cfg.problem_type == DPO
        and not cfg.training.lora
        and cfg.training.loss_function not in REFERENCE_FREE_LOSSES
    )


def plan_memory(
    cfg: ExperimentConfig,
    shape: ModelShape,
    precision: Precision,
    *,
    available: int,
    cuda: bool,
    calibration: float = 1.0,
) -> MemoryPlan:
    """The plan as ``cfg`` asks; with ``gradient_checkpointing: auto``, checkpointing only when the run
    would not fit (or be tight) without it."""
    setting = cfg.architecture.gradient_checkpointing

    def plan(checkpointing: bool) -> MemoryPlan:
        terms = estimate_terms(cfg, shape, precision, cuda, checkpointing)
        scaled = {k: int(v * calibration) for k, v in terms.items()}
        return MemoryPlan(scaled, available, checkpointing, calibration)

    if setting != "auto":
        return plan(setting == "true")
    without = plan(False)
    return without if without.verdict == FITS else plan(True)
