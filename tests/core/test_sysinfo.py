"""System snapshots: real psutil readings, the real NVML of this machine, and NVML-shaped conversion."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio_desktop.core.sysinfo import NO_GPU_NOTE, GpuInfo, NvmlReader, SystemSampler

REAL_GPUS, REAL_NOTE = NvmlReader().read()
needs_gpu = pytest.mark.skipif(not REAL_GPUS, reason="no NVIDIA GPU on this machine")
without_gpu = pytest.mark.skipif(
    bool(REAL_GPUS), reason="this machine has an NVIDIA GPU: the real one is tested"
)


class FakeNvml:
    """Just enough of pynvml's interface for two devices; device 1 cannot report utilization."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801, N818 - pynvml's name
        pass

    def __init__(self, init_error: Exception | None = None) -> None:
        self.init_error = init_error
        self.init_calls = 0
        self.lost: set[int] = set()

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's name
        self.init_calls += 1
        if self.init_error:
            raise self.init_error

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes | str:  # noqa: N802
        return b"Fake A100" if handle == 0 else "Fake L4"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:  # noqa: N802
        if handle in self.lost:
            raise self.NVMLError("GPU is lost")
        return SimpleNamespace(used=(handle + 1) * 2**30, total=40 * 2**30, free=0)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:  # noqa: N802
        if handle == 1:
            raise self.NVMLError("Not Supported")
        return SimpleNamespace(gpu=87, memory=10)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:  # noqa: N802
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 61 + handle

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:  # noqa: N802
        if handle == 1:
            raise self.NVMLError("Not Supported")
        return (8, 0)


def statvfs_total(path: Path) -> int:
    info = os.statvfs(path)
    return info.f_blocks * info.f_frsize


def test_host_snapshot_has_sane_values(tmp_path: Path) -> None:
    sampler = SystemSampler(tmp_path)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # keep one core busy so the load is above zero
        pass
    snapshot = sampler.sample()
    host = snapshot.host
    assert 5 < host.cpu_percent <= 100
    assert 0 < host.ram_used_bytes <= host.ram_total_bytes
    assert 0 < host.disk_used_bytes <= host.disk_total_bytes
    assert host.disk_total_bytes == statvfs_total(tmp_path)
    assert abs(snapshot.time - time.time()) < 5


def test_cpu_load_is_measured_per_sampler(tmp_path: Path) -> None:
    busy = SystemSampler(tmp_path)
    other = SystemSampler(tmp_path)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        pass
    other.sample_host()  # another sampler reading in between does not reset the first one's interval
    assert busy.sample_host().cpu_percent > 5


def test_disk_of_a_folder_not_created_yet_is_its_parents_disk(tmp_path: Path) -> None:
    snapshot = SystemSampler(tmp_path / "not" / "there" / "yet").sample()
    assert snapshot.host.disk_total_bytes == statvfs_total(tmp_path)


@without_gpu
def test_no_gpu_here_gives_the_cpu_note(tmp_path: Path) -> None:
    snapshot = SystemSampler(tmp_path).sample()
    assert snapshot.gpus == ()
    assert snapshot.gpu_note == NO_GPU_NOTE == "No NVIDIA GPU found: training runs on the CPU."


@needs_gpu
def test_real_gpus_are_read(tmp_path: Path) -> None:
    snapshot = SystemSampler(tmp_path).sample()
    assert snapshot.gpu_note is None
    assert [g.index for g in snapshot.gpus] == list(range(len(snapshot.gpus)))
    for gpu in snapshot.gpus:
        assert gpu.name
        assert 0 <= gpu.memory_used_bytes <= gpu.memory_total_bytes
        assert gpu.utilization_percent is None or 0 <= gpu.utilization_percent <= 100
        assert gpu.temperature_c is None or 0 < gpu.temperature_c < 130


@without_gpu
def test_nvml_readings_become_gpu_infos_and_nvml_starts_once(tmp_path: Path) -> None:
    fake = FakeNvml()
    sampler = SystemSampler(tmp_path, gpu_reader=NvmlReader(fake))
    first = sampler.sample()
    second = sampler.sample()
    assert fake.init_calls == 1
    assert first.gpu_note is None and second.gpus == first.gpus
    assert first.gpus == (
        GpuInfo(0, "Fake A100", 87.0, 2**30, 40 * 2**30, 61.0, (8, 0)),
        GpuInfo(1, "Fake L4", None, 2 * 2**30, 40 * 2**30, 62.0, None),
    )


@without_gpu
def test_a_gpu_that_stops_answering_is_left_out_with_a_note() -> None:
    fake = FakeNvml()
    reader = NvmlReader(fake)
    fake.lost.add(1)
    gpus, note = reader.read()
    assert [g.index for g in gpus] == [0]
    assert note == "GPU 1 cannot be read: GPU is lost"


@without_gpu
def test_nvml_start_failures_explain_themselves() -> None:
    missing = NvmlReader(FakeNvml(FakeNvml.NVMLError_LibraryNotFound("NVML Shared Library Not Found")))
    assert missing.read() == ((), NO_GPU_NOTE)
    denied = NvmlReader(FakeNvml(FakeNvml.NVMLError("Insufficient Permissions")))
    gpus, note = denied.read()
    assert gpus == ()
    assert note is not None and "Insufficient Permissions" in note
