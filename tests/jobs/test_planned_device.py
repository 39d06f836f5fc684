"""The device a config would train on, planned from NVML readings before any start (no torch)."""

from __future__ import annotations

from studio_desktop.core.config import default_config
from studio_desktop.core.precision import cpu_device_facts
from studio_desktop.core.sysinfo import GpuInfo
from studio_desktop.jobs.devices import device_among

GIB = 2**30
A100 = GpuInfo(0, "A100", 0.0, 10 * GIB, 40 * GIB, 40.0, (8, 0))
T4 = GpuInfo(1, "T4", 0.0, 1 * GIB, 16 * GIB, 40.0, (7, 5))
UNKNOWN = GpuInfo(2, "Old", 0.0, 0, 8 * GIB, None, None)


def test_without_a_gpu_the_run_is_planned_on_the_cpu() -> None:
    device = device_among(default_config(), ())
    assert device is not None and device.facts == cpu_device_facts()
    assert device.available > 0 and device.label == "this computer's CPU"


def test_the_first_gpu_is_planned_with_its_free_memory_and_native_bfloat16() -> None:
    device = device_among(default_config(), (A100, T4))
    assert device is not None and device.facts.cuda and device.facts.native_bf16
    assert device.available == 30 * GIB and device.label == "GPU A100"


def test_environment_gpus_selects_the_gpu_and_an_older_one_gets_float16() -> None:
    from studio_desktop.core.precision import choose_precision

    cfg = default_config().replace({"environment.gpus": ("1",)})
    device = device_among(cfg, (A100, T4))
    assert device is not None and device.facts.name == "T4" and not device.facts.native_bf16
    assert device.available == 15 * GIB
    assert choose_precision(cfg, device.facts).autocast == "float16"


def test_a_gpu_without_a_known_compute_capability_is_not_planned() -> None:
    assert device_among(default_config(), (UNKNOWN,)) is None
