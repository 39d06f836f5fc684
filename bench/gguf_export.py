"""GGUF export of the bundled backbone: time and size per storage, and the verification each one gets.

The bundled SmolLM2-135M (converted once from its GGUF into a cache folder, outside the timed region) is
written as GGUF for every storage of ``core.gguf_formats.QUANTS``, then verified as an export verifies it,
on five prompts. Reported per storage: writing time, file size, verification time and result. There is no
target ratio: the figures go into bench/RESULTS.md beside the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPTS = (
    "Hello!",
    "What is LoRA?",
    "Name three colours.",
    "What is the capital of France?",
    "Write a haiku about rain.",
)


def main() -> int:
    from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
    from studio_desktop.core.backbones import resolve_backbone
    from studio_desktop.core.gguf_export import verify_gguf, write_gguf
    from studio_desktop.core.gguf_formats import COMPARED_TOKENS, QUANTS, VERIFIED_TOKENS
    from studio_desktop.core.hardware import cpu_facts

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, default=Path(tempfile.gettempdir()) / "studio-bench-models")
    args = parser.parse_args()
    args.models.mkdir(parents=True, exist_ok=True)
    folder = resolve_backbone(BUNDLED_BACKBONE, args.models).folder
    print(f"GGUF export of {BUNDLED_BACKBONE}; CPU {cpu_facts().describe()}")
    with tempfile.TemporaryDirectory() as scratch:
        for quant in QUANTS:
            path = Path(scratch) / f"bundled-{quant}.gguf"
            started = time.perf_counter()
            write_gguf(folder, path, quant, "bundled")
            written = time.perf_counter() - started
            started = time.perf_counter()
            verification = verify_gguf(path, folder, VERIFIED_TOKENS.get(quant, COMPARED_TOKENS), PROMPTS)
            verified = time.perf_counter() - started
            required = "must pass" if quant in VERIFIED_TOKENS else "reported"
            outcome = "pass" if verification.passed else "fail"
            size = path.stat().st_size / 2**20
            print(
                f"  {quant:<5} write {written:5.1f} s  {size:6.1f} MiB  verify {verified:5.1f} s  "
                f"{verification.matching_prompts}/{len(PROMPTS)} prompts agree on the first "
                f"{verification.compared_tokens} tokens ({required}: {outcome})"
            )
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
