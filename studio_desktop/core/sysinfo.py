"""Snapshots of this computer's load: CPU, RAM and disk through psutil, NVIDIA GPUs through NVML.

Plain dataclasses, no Qt and no torch: reading them never creates a CUDA context. Every call is cheap
(a few reads under ``/proc``, a ``statvfs`` and a handful of NVML queries), so a GUI timer may call
:meth:`SystemSampler.sample` directly.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

NO_GPU_NOTE = "No NVIDIA GPU found: training runs on the CPU."


@dataclass(frozen=True)
class CpuRamDisk:
    """Host load: CPU busy share of all cores, RAM in use and the disk that holds a given path."""

    cpu_percent: float
    ram_used_bytes: int
    ram_total_bytes: int
    disk_used_bytes: int
    disk_total_bytes: int


@dataclass(frozen=True)
class GpuInfo:
    """One NVIDIA GPU; a reading the device does not support is None."""

    index: int
    name: str
    utilization_percent: float | None
    memory_used_bytes: int
    memory_total_bytes: int
    temperature_c: float | None
    compute_capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything read at one moment; ``gpu_note`` says why ``gpus`` is empty or incomplete."""

    time: float
    host: CpuRamDisk
    gpus: tuple[GpuInfo, ...]
    gpu_note: str | None


def _optional(nvml: Any, read: Any) -> Any:
    """The value of ``read()``, or None when NVML reports an error (e.g. not supported)."""
    try:
        return read()
    except nvml.NVMLError:
        return None


def _read_temperature(nvml: Any, handle: Any) -> float | None:
    """Core temperature in °C; newer drivers offer the versioned call, older ones only the plain one."""
    sensor = nvml.NVML_TEMPERATURE_GPU
    if hasattr(nvml, "nvmlDeviceGetTemperatureV"):
        value = _optional(nvml, lambda: nvml.nvmlDeviceGetTemperatureV(handle, sensor))
        if value is not None:
            return float(value)
    value = _optional(nvml, lambda: nvml.nvmlDeviceGetTemperature(handle, sensor))
    return None if value is None else float(value)


def read_gpu(nvml: Any, index: int, name: str, handle: Any) -> GpuInfo:
    """Convert the NVML readings of one device; raises ``nvml.NVMLError`` if its memory cannot be read."""
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    utilization = _optional(nvml, lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    capability = _optional(nvml, lambda: nvml.nvmlDeviceGetCudaComputeCapability(handle))
    return GpuInfo(
        index=index,
        name=name,
        utilization_percent=None if utilization is None else float(utilization),
        memory_used_bytes=int(memory.used),
        memory_total_bytes=int(memory.total),
        temperature_c=_read_temperature(nvml, handle),
        compute_capability=(int(capability[0]), int(capability[1])) if capability else None,
    )


class NvmlReader:
    """Reads every NVIDIA GPU through an NVML binding, initialised on first use and kept for the process.

    ``nvml`` is an object with pynvml's interface (the ``pynvml`` module of nvidia-ml-py by default).
    """

    def __init__(self, nvml: Any | None = None) -> None:
        self._nvml = nvml
        self._lock = threading.Lock()
        self._devices: list[tuple[int, str, Any]] | None = None
        self._note: str | None = None

    def _initialise(self) -> None:
        """Open NVML and list the devices once; on failure remember why there are no GPUs."""
        self._devices = []
        try:
            if self._nvml is None:
                import pynvml

                self._nvml = pynvml
            nvml = self._nvml
            nvml.nvmlInit()
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                name = nvml.nvmlDeviceGetName(handle)
                name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
                self._devices.append((index, name, handle))
        except ImportError:
            self._note = NO_GPU_NOTE
        except Exception as err:
            self._devices = []
            self._note = _init_failure_note(err)
        if not self._devices and self._note is None:
            self._note = NO_GPU_NOTE

    def read(self) -> tuple[tuple[GpuInfo, ...], str | None]:
        """The GPUs that could be read now, and a note when some or all could not."""
        with self._lock:
            if self._devices is None:
                self._initialise()
            devices = list(self._devices or ())
            note = self._note
        gpus = []
        failures = []
        for index, name, handle in devices:
            try:
                gpus.append(read_gpu(self._nvml, index, name, handle))
            except self._nvml.NVMLError as err:
                failures.append(f"GPU {index} cannot be read: {err}")
        return tuple(gpus), "; ".join(failures) if failures else note


def _init_failure_note(err: Exception) -> str:
    """A missing library or driver means no GPU; any other error is reported as is."""
    kind = type(err).__name__
    if kind in {"NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded", "NVMLError_NotFound"}:
        return NO_GPU_NOTE
    return f"GPU readings are unavailable ({err}); training may still use the GPU."


_shared_reader: NvmlReader | None = None
_shared_lock = threading.Lock()


def shared_nvml_reader() -> NvmlReader:
    """The process-wide reader of the real NVML, so NVML is initialised at most once."""
    global _shared_reader  # noqa: PLW0603 - one NVML session per process
    with _shared_lock:
        if _shared_reader is None:
            _shared_reader = NvmlReader()
        return _shared_reader


def _busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds of a ``psutil.cpu_times()`` reading (guest time is already in user)."""
    total = sum(times)
    if sys.platform.startswith("linux"):
        total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the disk is the same)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


class SystemSampler:
    """Takes snapshots without blocking: CPU load is measured between two consecutive calls.

    Each sampler keeps its own previous CPU reading, so several samplers never disturb each other.
    """

    def __init__(self, path: Path, gpu_reader: NvmlReader | None = None) -> None:
        self.path = Path(path)
        self._gpu_reader = gpu_reader
        self._last_cpu = _busy_and_total(psutil.cpu_times())
        self._last_percent = 0.0

    def _cpu_percent(self) -> float:
        """Share of all cores busy since the previous call, 0-100."""
        busy, total = _busy_and_total(psutil.cpu_times())
        last_busy, last_total = self._last_cpu
        if total - last_total <= 0:
            return self._last_percent
        self._last_cpu = (busy, total)
        percent = 100.0 * max(0.0, busy - last_busy) / (total - last_total)
        self._last_percent = min(100.0, percent)
        return self._last_percent

    def sample_host(self) -> CpuRamDisk:
        """CPU, RAM (in use = total - available) and the disk holding :attr:`path`."""
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(_existing(self.path)))
        return CpuRamDisk(
            cpu_percent=self._cpu_percent(),
            ram_used_bytes=int(memory.total - memory.available),
            ram_total_bytes=int(memory.total),
            disk_used_bytes=int(disk.used),
            disk_total_bytes=int(disk.total),
        )

    def sample(self) -> Snapshot:
        """One snapshot of host and GPUs."""
        reader = self._gpu_reader or shared_nvml_reader()
        gpus, note = reader.read()
        return Snapshot(time=time.time(), host=self.sample_host(), gpus=gpus, gpu_note=note)
