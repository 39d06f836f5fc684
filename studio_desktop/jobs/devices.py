"""The device a run is planned for, as seen before it starts (no torch: NVML and /proc only)."""

from __future__ import annotations

from dataclasses import dataclass

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.precision import DeviceFacts, Precision, choose_precision, cpu_device_facts
from studio_desktop.core.sysinfo import GpuInfo, shared_nvml_reader

BF16_CAPABILITY = (8, 0)  # Ampere and later compute bfloat16 natively


@dataclass(frozen=True)
class PlannedDevice:
    """The device a run of a config would use here, and its free memory now."""

    facts: DeviceFacts
    available: int

    @property
    def label(self) -> str:
        return f"GPU {self.facts.name}" if self.facts.cuda else "this computer's CPU"


def chosen_gpu(cfg: ExperimentConfig, gpus: tuple[GpuInfo, ...]) -> GpuInfo:
    """The GPU a run trains on: the first of ``environment.gpus`` (a physical index), else the first one."""
    wanted = cfg.environment.gpus[0].strip() if cfg.environment.gpus else ""
    return next((gpu for gpu in gpus if str(gpu.index) == wanted), gpus[0])


def planned_device(cfg: ExperimentConfig) -> PlannedDevice | None:
    """Where ``cfg`` would train on this machine: the chosen NVIDIA GPU as NVML reports it, else the CPU;
    None for a GPU whose compute capability NVML does not report (only the worker's torch can tell)."""
    return device_among(cfg, shared_nvml_reader().read()[0])


def device_among(cfg: ExperimentConfig, gpus: tuple[GpuInfo, ...]) -> PlannedDevice | None:
    """``planned_device`` for these GPU readings (none: the CPU)."""
    if not gpus:
        import psutil

        return PlannedDevice(cpu_device_facts(), int(psutil.virtual_memory().available))
    gpu = chosen_gpu(cfg, gpus)
    if gpu.compute_capability is None:
        return None
    facts = DeviceFacts(gpu.name, cuda=True, native_bf16=gpu.compute_capability >= BF16_CAPABILITY)
    return PlannedDevice(facts, gpu.memory_total_bytes - gpu.memory_used_bytes)


def planned_precision(cfg: ExperimentConfig) -> Precision | None:
    """The precision ``cfg`` will get on the device it would train on here (None: not known before start)."""
    device = planned_device(cfg)
    return None if device is None else choose_precision(cfg, device.facts)
