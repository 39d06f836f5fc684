"""Converting a GGUF model file once into a normal Hugging Face folder (float32 safetensors + tokenizer).

The folder records its source (path, size, modification time) so it is reused until the file changes.
torch, transformers and gguf are imported inside functions only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio_desktop.core.errors import BackboneError
from studio_desktop.core.files import write_folder

MARKER_FILE = "studio_backbone.json"
_GGUF_MAGIC = b"GGUF"
Progress = Callable[[str], None]


def _silent(_message: str) -> None:
    """Progress sink that drops every message."""


def check_gguf_file(gguf_file: Path) -> None:
    """Raise BackboneError unless ``gguf_file`` exists and starts with the GGUF magic bytes."""
    if not gguf_file.is_file():
        raise BackboneError(f"GGUF file not found: {gguf_file}")
    try:
        with gguf_file.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise BackboneError(f"Cannot read the GGUF file {gguf_file}: {exc}") from exc
    if magic != _GGUF_MAGIC:
        raise BackboneError(f"{gguf_file} is not a GGUF file (it does not start with the GGUF signature).")


def _source_record(gguf_file: Path) -> dict[str, Any]:
    stat = gguf_file.stat()
    return {"source": str(gguf_file), "source_size": stat.st_size, "source_mtime_ns": stat.st_mtime_ns}


def _export_gguf(gguf_file: Path, out_dir: Path, report: Progress) -> None:
    """Load tokenizer and dense float32 model from ``gguf_file`` and save them as an HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_file.parent), gguf_file.name
    try:
        report(f"Reading the tokenizer from {gguf_file.name}")
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        report(f"Loading and dequantising the weights of {gguf_file.name}")
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            gguf_file=name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
    except Exception as exc:
        raise BackboneError(f"Cannot convert the GGUF file {gguf_file}: {exc}") from exc
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    millions = sum(parameter.numel() for parameter in model.parameters()) / 1e6
    report(f"Saving the converted model ({millions:.1f} M parameters)")
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def convert_gguf_to_folder(gguf_file: Path, out_dir: Path, progress: Progress | None = None) -> Path:
    """Convert ``gguf_file`` into a Hugging Face model folder at ``out_dir`` (float32 safetensors).

    The folder is written next to ``out_dir`` under a temporary name and renamed into place, so an
    interrupted conversion never leaves a partial ``out_dir``. ``studio_backbone.json`` in it records the
    source file, its size and its modification time.
    """
    report = progress or _silent
    gguf_file = Path(gguf_file).expanduser().resolve()
    out_dir = Path(out_dir).expanduser().resolve()
    check_gguf_file(gguf_file)
    record = _source_record(gguf_file)
    started = time.monotonic()

    def write(work_dir: Path) -> None:
        _export_gguf(gguf_file, work_dir, report)
        record["converted_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        (work_dir / MARKER_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    write_folder(out_dir, write)
    report(f"Converted {gguf_file.name} into {out_dir} in {time.monotonic() - started:.1f} s")
    return out_dir


def conversion_is_current(folder: Path, gguf_file: Path) -> bool:
    """Whether ``folder`` holds a conversion of ``gguf_file`` whose size and mtime are unchanged."""
    marker = folder / MARKER_FILE
    if not ((folder / "config.json").is_file() and marker.is_file()):
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        current = _source_record(Path(gguf_file).resolve())
    except (OSError, ValueError):
        return False
    return all(recorded.get(key) == current[key] for key in ("source_size", "source_mtime_ns"))


def converted_folder(gguf_file: Path, out_dir: Path, report: Progress) -> Path:
    """``out_dir`` if it is a current conversion of ``gguf_file``, else convert it now."""
    if conversion_is_current(out_dir, gguf_file):
        report(f"Using the converted model in {out_dir}")
        return out_dir
    size_mb = gguf_file.stat().st_size / 1e6
    report(f"Converting {gguf_file.name} ({size_mb:.0f} MB) into {out_dir}; this is done once")
    return convert_gguf_to_folder(gguf_file, out_dir, report)
