"""The device a run is planned for, as seen before it starts (no torch: NVML and /proc only)."""

from __future__ import annotations

from functools import cache

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.precision import Precision, choose_precision, cpu_device_facts
from studio_desktop.core.sysinfo import shared_nvml_reader


def planned_precision(cfg: ExperimentConfig) -> Precision | None:
    """The precision ``cfg`` will get on this machine's CPU when no NVIDIA GPU is visible; None with a GPU,
    whose compute capability only the worker reads (through torch)."""
    return None if nvidia_gpu_visible() else choose_precision(cfg, cpu_device_facts())


@cache
def nvidia_gpu_visible() -> bool:
    """Whether NVML sees a GPU (read once per process: the form asks on every edit)."""
    gpus, _note = shared_nvml_reader().read()
    return bool(gpus)
