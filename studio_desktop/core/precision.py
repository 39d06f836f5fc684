"""Weight and autocast precision chosen for the device a run uses.

``auto`` (the default of ``architecture.backbone_dtype`` and ``environment.mixed_precision_dtype``) picks
bfloat16 where the device computes it natively (CUDA compute capability 8.0 or newer, CPUs whose oneDNN has
bfloat16 kernels), float16 on older CUDA GPUs, and float32 on other CPUs, where bfloat16 runs through a
reference kernel about five times slower than float32. An explicit choice is honoured, with a warning when it
will be slow on this device. One rule serves the worker (device facts from torch, ``core.torch_devices``) and
the window (facts read without torch, ``cpu_device_facts``); this module imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio_desktop.core.hardware import cpu_facts

if TYPE_CHECKING:
    from studio_desktop.core.config import ExperimentConfig

AUTO = "auto"
QUANTIZED = ("int4", "int8")
AMPERE = (8, 0)


@dataclass(frozen=True)
class DeviceFacts:
    """What a device computes fast."""

    name: str
    cuda: bool
    native_bf16: bool


@dataclass(frozen=True)
class Precision:
    """The dtypes a run uses: weights, autocast (None: off) and 4/8-bit compute, with the reasons."""

    weights: str
    autocast: str | None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def compute(self) -> str:
        """Compute dtype of 4-bit and 8-bit layers: the autocast dtype, else float32."""
        return self.autocast or "float32"


def cpu_device_facts() -> DeviceFacts:
    """The CPU as a device, read from /proc/cpuinfo (no torch)."""
    facts = cpu_facts()
    return DeviceFacts(name=facts.model, cuda=False, native_bf16=facts.native_bf16)


def _why(device: DeviceFacts) -> str:
    if device.native_bf16:
        return f"{device.name} computes bfloat16 natively"
    if device.cuda:
        return f"{device.name} predates native bfloat16 (compute capability below 8.0)"
    return f"{device.name} has no native bfloat16, where float32 is several times faster"


def _auto_weights(cfg: ExperimentConfig, device: DeviceFacts) -> str:
    if device.cuda and not device.native_bf16 and not cfg.training.lora:
        return "float32"  # float16 weights cannot be fully fine-tuned without loss scaling
    return fastest_dense(device)


def _auto_autocast(device: DeviceFacts) -> str | None:
    if device.native_bf16:
        return "bfloat16"
    return "float16" if device.cuda else None


def _slow_warning(path: str, device: DeviceFacts) -> str:
    return (
        f"{path} = 'bfloat16' will be slow: {_why(device)}. Choose 'auto' to let the run pick the fast type."
    )


def _weights(cfg: ExperimentConfig, device: DeviceFacts) -> tuple[str, list[str], list[str]]:
    requested = cfg.architecture.backbone_dtype
    if requested != AUTO:
        slow = requested == "bfloat16" and not device.native_bf16
        return requested, [], [_slow_warning("architecture.backbone_dtype", device)] if slow else []
    weights = _auto_weights(cfg, device)
    return weights, [f"weights in {weights} (auto: {_why(device)})"], []


def _autocast(cfg: ExperimentConfig, device: DeviceFacts, weights: str) -> tuple[str | None, list[str]]:
    """The autocast dtype and notes; warnings are added by the caller."""
    env = cfg.environment
    if not env.mixed_precision:
        return None, []
    if not cfg.training.lora and weights not in ("float32", *QUANTIZED):
        return None, ["mixed precision is off: full fine-tuning of non-float32 weights runs in their dtype"]
    requested = env.mixed_precision_dtype
    if requested == AUTO:
        chosen = _auto_autocast(device)
        what = f"{chosen} autocast" if chosen else "no autocast"
        return chosen, [f"{what} (auto: {_why(device)})"]
    if requested == "float16" and not device.cuda:
        return "bfloat16", ["float16 mixed precision needs a GPU; bfloat16 autocast is used on the CPU"]
    return requested, []


def choose_precision(cfg: ExperimentConfig, device: DeviceFacts) -> Precision:
    """The precision ``cfg`` asks for on ``device``: ``auto`` resolved, slow explicit choices warned."""
    weights, notes, warnings = _weights(cfg, device)
    autocast, autocast_notes = _autocast(cfg, device, weights)
    explicit_bf16 = cfg.environment.mixed_precision_dtype == "bfloat16" and autocast == "bfloat16"
    if explicit_bf16 and not device.native_bf16:
        warnings.append(_slow_warning("environment.mixed_precision_dtype", device))
    return Precision(weights, autocast, tuple(notes + autocast_notes), tuple(warnings))


def fastest_dense(device: DeviceFacts) -> str:
    """The fastest dense weights dtype on ``device``."""
    if device.native_bf16:
        return "bfloat16"
    return "float16" if device.cuda else "float32"


def inference_weights(cfg: ExperimentConfig, device: DeviceFacts) -> str:
    """Dense weights dtype to load a trained run for chat: quantised runs reload dense, and a 16-bit type
    the device cannot compute fast is widened (the adapters are float32, so nothing is lost)."""
    weights = choose_precision(cfg, device).weights
    slow = (weights == "bfloat16" and not device.native_bf16) or (weights == "float16" and not device.cuda)
    return fastest_dense(device) if weights in QUANTIZED or slow else weights
