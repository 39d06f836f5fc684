# Replaces pyinstaller-hooks-contrib's hook (build.spec puts this folder on hookspath), which bundles every
# bitsandbytes library: keep the CPU one always and the CUDA ones only when torch is a CUDA build (a CPU-only
# torch cannot use them, and their analysis would pull the build machine's CUDA runtime into the bundle);
# never the ROCm and Intel XPU ones. 4/8-bit training needs an NVIDIA GPU anyway.
from pathlib import Path

from PyInstaller.utils.hooks import collect_dynamic_libs, get_module_attribute

TORCH_HAS_CUDA = get_module_attribute("torch.version", "cuda") not in (None, "None")


def wanted(library: str) -> bool:
    name = Path(library).name
    if "_rocm" in name or "_xpu" in name:
        return False
    return TORCH_HAS_CUDA or "_cuda" not in name


binaries = [(source, dest) for source, dest in collect_dynamic_libs("bitsandbytes") if wanted(source)]
module_collection_mode = "pyz+py"
