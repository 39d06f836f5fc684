"""Device facts as torch reports them, for the worker (the window reads them without torch)."""

from __future__ import annotations

from studio_desktop.core.hardware import cpu_facts
from studio_desktop.core.precision import AMPERE, DeviceFacts


def device_facts(device: str) -> DeviceFacts:
    """Facts of ``cpu`` or ``cuda:N`` from torch itself."""
    import torch

    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        capability = torch.cuda.get_device_capability(index)
        return DeviceFacts(
            name=torch.cuda.get_device_name(index), cuda=True, native_bf16=tuple(capability) >= AMPERE
        )
    return DeviceFacts(
        name=cpu_facts().model, cuda=False, native_bf16=bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    )


def free_memory(device: str) -> int:
    """Bytes the run may still take on ``device``: free GPU memory, or the RAM available to processes."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    import psutil

    return int(psutil.virtual_memory().available)


def peak_memory(device: str) -> int:
    """Peak bytes this process has held on ``device``: reserved GPU memory, or the peak resident set."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.max_memory_reserved(torch.device(device)))
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
