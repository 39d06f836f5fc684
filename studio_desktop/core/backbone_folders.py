"""Where a backbone's Hugging Face folder is on this machine, found without model libraries (the GUI and
the memory planner ask before any run)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE, is_bundled, is_hub_id

BUNDLED_FOLDER_NAME = "SmolLM2-135M-Instruct"
# What a hub download fetches: configuration, tokenizer and safetensors weights, nothing else.
_HUB_CONFIGS = ["config.json", "generation_config.json", "chat_template.jinja", "special_tokens_map.json"]
_HUB_TOKENIZERS = ["tokenizer*", "added_tokens.json", "vocab.json", "merges.txt"]
HUB_ALLOW_PATTERNS = [*_HUB_CONFIGS, *_HUB_TOKENIZERS, "*.safetensors", "*.safetensors.index.json"]


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment at call time."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds a model config and safetensors weights."""
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def cached_snapshot(repo_id: str) -> Path | None:
    """The complete local snapshot of ``repo_id`` in the hub cache, or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id,
            cache_dir=hub_cache_dir(),
            local_files_only=True,
            allow_patterns=HUB_ALLOW_PATTERNS,
        )
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        return None
    return Path(folder) if has_weights(Path(folder)) else None


def gguf_folder_name(gguf_file: Path) -> str:
    """``<stem>-<short hash of the resolved path>``: the folder a GGUF file is converted into."""
    resolved = Path(gguf_file).expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:8]
    return f"{resolved.stem}-{digest}"


def ready_folder(spec: str, models_dir: Path) -> Path | None:
    """The model folder of ``spec`` when it is usable now without converting or downloading, else None."""
    spec, models_dir = spec.strip(), Path(models_dir).expanduser()
    if not spec:
        return None
    path = Path(spec).expanduser()
    if is_bundled(spec):
        candidates = [cached_snapshot(BUNDLED_BACKBONE), models_dir / BUNDLED_FOLDER_NAME]
    elif path.suffix.lower() == ".gguf":
        candidates = [models_dir / gguf_folder_name(path)]
    elif path.exists():
        candidates = [path]
    else:
        candidates = [models_dir / spec, cached_snapshot(spec) if is_hub_id(spec) else None]
    return next((c for c in candidates if c is not None and (c / "config.json").is_file()), None)
