"""What this computer's processor offers, read without torch: model name, native bfloat16, usable cores.

The bfloat16 rule mirrors oneDNN's (the check behind ``torch.ops.mkldnn._is_mkldnn_bf16_supported``):
x86 CPUs with AVX-512 BW, VL and DQ, or Arm CPUs with the BF16 extension. Elsewhere PyTorch falls back to a
reference bfloat16 kernel that is several times slower than float32. The GUI reads these facts to warn before
a run starts; the worker asks torch itself (``core/precision.py``).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
X86_BF16_FLAGS = frozenset({"avx512bw", "avx512vl", "avx512dq"})


@dataclass(frozen=True)
class CpuFacts:
    """The processor as a run sees it."""

    model: str
    native_bf16: bool
    usable_cores: int

    def describe(self) -> str:
        """One line for logs and benchmark output, e.g. ``AMD EPYC, 2 cores, no native bfloat16``."""
        bf16 = "native bfloat16" if self.native_bf16 else "no native bfloat16"
        return f"{self.model}, {self.usable_cores} cores, {bf16}"


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def facts_from_cpuinfo(text: str, usable_cores: int) -> CpuFacts:
    """CpuFacts from the text of /proc/cpuinfo (x86 ``flags`` or Arm ``Features``)."""
    fields = _cpuinfo_fields(text)
    flags = set(fields.get("flags", "").split())
    features = set(fields.get("features", "").split())
    native = flags >= X86_BF16_FLAGS or "bf16" in features
    model = fields.get("model name") or fields.get("cpu model") or platform.processor() or "unknown CPU"
    return CpuFacts(model=model, native_bf16=native, usable_cores=usable_cores)


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), not every core of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@cache
def cpu_facts() -> CpuFacts:
    """This machine's CpuFacts (read once per process)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return facts_from_cpuinfo(text, usable_cores())
