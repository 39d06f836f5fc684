"""Precision chosen for the device: auto resolved per device kind, slow explicit choices warned."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio_desktop.core.config import default_config
from studio_desktop.core.hardware import cpu_facts, facts_from_cpuinfo
from studio_desktop.core.precision import (
    DeviceFacts,
    choose_precision,
    cpu_device_facts,
    inference_weights,
)
from studio_desktop.core.torch_devices import device_facts

AVX2_CPU = DeviceFacts("AMD EPYC", cuda=False, native_bf16=False)
AMX_CPU = DeviceFacts("Intel Xeon", cuda=False, native_bf16=True)
AMPERE = DeviceFacts("NVIDIA A100", cuda=True, native_bf16=True)
TURING = DeviceFacts("Tesla T4", cuda=True, native_bf16=False)


@pytest.mark.parametrize(
    ("device", "lora", "weights", "autocast"),
    [
        (AVX2_CPU, True, "float32", None),
        (AVX2_CPU, False, "float32", None),
        (AMX_CPU, True, "bfloat16", "bfloat16"),
        (AMX_CPU, False, "bfloat16", None),  # full fine-tuning of bf16 weights runs in bf16
        (AMPERE, True, "bfloat16", "bfloat16"),
        (TURING, True, "float16", "float16"),
        (TURING, False, "float32", "float16"),
    ],
)
def test_auto_picks_the_fast_types_of_the_device(
    device: DeviceFacts, lora: bool, weights: str, autocast: str | None
) -> None:
    cfg = default_config().replace({"training.lora": lora})
    precision = choose_precision(cfg, device)
    assert (precision.weights, precision.autocast) == (weights, autocast)
    assert precision.notes and device.name in precision.notes[0]
    assert precision.warnings == ()


def test_explicit_bfloat16_is_honoured_but_warned_on_a_cpu_without_it() -> None:
    cfg = default_config().replace(
        {"architecture.backbone_dtype": "bfloat16", "environment.mixed_precision_dtype": "bfloat16"}
    )
    slow = choose_precision(cfg, AVX2_CPU)
    assert (slow.weights, slow.autocast) == ("bfloat16", "bfloat16")
    assert [w.split(" =")[0] for w in slow.warnings] == [
        "architecture.backbone_dtype",
        "environment.mixed_precision_dtype",
    ]
    assert all("AMD EPYC" in w and "'auto'" in w for w in slow.warnings)
    assert choose_precision(cfg, AMX_CPU).warnings == ()


def test_mixed_precision_off_means_no_autocast_and_float16_on_cpu_becomes_bfloat16() -> None:
    off = default_config().replace({"environment.mixed_precision": False})
    assert choose_precision(off, AMPERE).autocast is None
    fp16 = default_config().replace({"environment.mixed_precision_dtype": "float16"})
    assert choose_precision(fp16, AMX_CPU).autocast == "bfloat16"
    assert choose_precision(fp16, TURING).autocast == "float16"


def test_quantized_layers_compute_in_the_autocast_type_and_reload_dense_for_chat() -> None:
    qlora = default_config().replace({"architecture.backbone_dtype": "int4"})
    assert choose_precision(qlora, AVX2_CPU).compute == "float32"
    assert choose_precision(qlora, AMPERE).compute == "bfloat16"
    assert inference_weights(qlora, AVX2_CPU) == "float32"
    assert inference_weights(qlora, AMPERE) == "bfloat16"
    bf16 = default_config().replace({"architecture.backbone_dtype": "bfloat16"})
    assert inference_weights(bf16, AVX2_CPU) == "float32"  # adapters are float32: nothing lost


def test_cpu_facts_read_without_torch_agree_with_torch() -> None:
    assert cpu_device_facts().native_bf16 == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert device_facts("cpu") == cpu_device_facts()
    facts = cpu_facts()
    print(f"this CPU: {facts.describe()}")
    assert facts.usable_cores >= 1


def test_cpuinfo_flags_decide_native_bfloat16(tmp_path: Path) -> None:
    avx2 = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2 fma\n\nprocessor\t: 1\n"
    avx512 = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t: avx2 avx512f avx512bw avx512vl avx512dq\n"
    arm = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\nCPU part\t: 0xd4f\n"
    assert facts_from_cpuinfo(avx2, 2) == facts_from_cpuinfo(avx2, 2)
    assert not facts_from_cpuinfo(avx2, 2).native_bf16
    assert facts_from_cpuinfo(avx2, 2).model == "AMD EPYC 7B13"
    assert facts_from_cpuinfo(avx512, 4).native_bf16
    assert facts_from_cpuinfo(arm, 8).native_bf16
    assert "no native bfloat16" in facts_from_cpuinfo(avx2, 2).describe()
