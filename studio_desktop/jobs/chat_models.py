"""What can be chatted with, and the chat worker's JSON-lines protocol.

A chat target is a finished experiment or a backbone. The worker (``studio-desktop worker chat SPEC``)
reads requests on stdin and writes replies on stdout, one JSON object per line:

- worker → client: ``{"type": "log", "message"}`` while loading, then ``{"type": "ready", "model",
  "device", "kind", "task", "settings"}`` (``task``: generation, or classification / regression for a model
  that answers with its prediction and takes no generation settings); per request ``{"type": "delta",
  "id", "text"}`` lines and a final
  ``{"type": "done", "id", "text", "tokens", "seconds", "stopped"}``; ``{"type": "error", "id",
  "message"}`` for a bad request (the worker keeps serving) or, without ``id``, for a model that cannot be
  loaded (the worker then exits 1).
- client → worker: ``{"type": "generate", "id", "messages": [{"role", "content"}, ...], "system",
  "settings": {PREDICTION_FIELD: value}}`` and ``{"type": "stop", "id"}``. Requests are answered one at a
  time, in order; closing stdin ends the worker once the queued requests are answered.

Nothing here imports torch or transformers (not even lazily), so the GUI may import this module.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE, is_bundled, is_hub_id
from studio_desktop.core.config import ExperimentConfig, default_config
from studio_desktop.core.config_sections import PredictionSection
from studio_desktop.core.data.conversations import Message
from studio_desktop.core.errors import CatalogError, ConfigError
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment, open_experiment
from studio_desktop.jobs.workdir import Workdir

ChatKind = Literal["experiment", "backbone"]
GENERATION_SETTINGS = (
    "min_length_inference",
    "max_length_inference",
    "max_time",
    "do_sample",
    "num_beams",
    "temperature",
    "repetition_penalty",
    "stop_tokens",
    "top_k",
    "top_p",
    "num_history",
)
"""The ``prediction`` fields a generate request may override."""
CHAT_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class ChatTarget:
    """A model to chat with and what the chat worker needs to load it.

    ``backbone`` is the backbone location to resolve; ``model_dir`` holds an experiment's trained weights
    (``None`` for a backbone).
    """

    kind: ChatKind
    name: str
    config: ExperimentConfig
    backbone: str
    model_dir: Path | None = None


def has_trained_model(experiment: Experiment) -> bool:
    """Whether training wrote the experiment's model folder (an adapter or a whole model)."""
    folder = experiment.model_dir
    return (folder / "adapter_config.json").is_file() or (folder / "config.json").is_file()


def resolve_chat_target(spec: str, workdir: Workdir, catalog: Catalog) -> ChatTarget:
    """The experiment named ``spec`` (it must have finished training) or the backbone ``spec`` names.

    A backbone is "bundled" or the bundled hub id, a registered backbone name, a model folder, a GGUF file,
    a folder in the models directory or a hub id ``owner/name``. Backbones are only checked here; the chat
    worker converts or downloads them. Raises CatalogError with a message for the user.
    """
    spec = spec.strip()
    if not spec:
        raise CatalogError("no model given: name an experiment or a backbone to chat with.")
    if catalog.has_experiment(spec):
        return _experiment_target(spec, catalog)
    location = catalog.backbone_location(spec)
    _check_backbone(spec, location, workdir)
    config = default_config().replace({"llm_backbone": spec})
    return ChatTarget("backbone", _backbone_name(spec, location), config, location)


def _experiment_target(name: str, catalog: Catalog) -> ChatTarget:
    experiment = open_experiment(catalog, name)
    if not has_trained_model(experiment):
        raise CatalogError(
            f"experiment {name!r} has not finished training (status: {experiment.status()}): it has no "
            "trained model to chat with yet. Wait until it has finished, or chat with its backbone."
        )
    cfg = experiment.config()
    backbone = catalog.backbone_location(cfg.llm_backbone)
    return ChatTarget("experiment", name, cfg, backbone, experiment.model_dir)


def _check_backbone(spec: str, location: str, workdir: Workdir) -> None:
    """Raise CatalogError unless ``location`` can name a backbone."""
    if is_bundled(location):
        return
    path = Path(location).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CatalogError(f"the folder {path} is not a model folder: it has no config.json.")
        return
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise CatalogError(f"{path} is neither a model folder nor a .gguf file.")
        return
    if path.suffix.lower() == ".gguf":
        raise CatalogError(f"GGUF file not found: {path}")
    if "/" not in location and (workdir.models / location / "config.json").is_file():
        return
    if is_hub_id(location):
        return  # the worker takes it from the local cache or downloads it
    raise CatalogError(
        f"{spec!r} is neither an experiment nor a backbone: no experiment has that name, and it is not the "
        "bundled model, a registered backbone, a model folder, a GGUF file or a hub id (owner/name). "
        "'studio-desktop experiment list' and 'studio-desktop backbone list' show what there is."
    )


def _backbone_name(spec: str, location: str) -> str:
    """A short name to show: the registered name, the bundled hub id, a file or folder name, a hub id."""
    if location != spec:
        return spec
    if is_bundled(spec):
        return BUNDLED_BACKBONE
    path = Path(spec).expanduser()
    return path.resolve().name if path.exists() else spec


def generation_defaults(prediction: PredictionSection) -> dict[str, Any]:
    """The overridable generation settings of ``prediction``, by field name."""
    return {name: getattr(prediction, name) for name in GENERATION_SETTINGS}


def generate_request(
    request_id: str | int,
    messages: list[dict[str, str]],
    system: str = "",
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A generate request: answer the last user message of ``messages``."""
    return {
        "type": "generate",
        "id": request_id,
        "messages": messages,
        "system": system,
        "settings": dict(settings or {}),
    }


def stop_request(request_id: str | int) -> dict[str, Any]:
    """A request to end the generation ``request_id`` (ignored once it is done)."""
    return {"type": "stop", "id": request_id}


@dataclass
class ChatRequest:
    """A checked generate request; setting ``stop_event`` ends its generation."""

    id: Any
    history: list[Message]
    system: str
    prediction: PredictionSection
    stop_event: threading.Event = field(default_factory=threading.Event)


def plain_id(value: Any) -> bool:
    """Whether a request id can be echoed in a JSON line: a string or a finite number."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def parse_generate(request: dict[str, Any], defaults: PredictionSection) -> ChatRequest:
    """Check a generate request and apply its settings to ``defaults``; ConfigError names what is wrong."""
    request_id = request.get("id")
    if not plain_id(request_id):
        raise ConfigError("a generate request needs an 'id' (a string or a finite number).")
    system = request.get("system") or ""
    if not isinstance(system, str):
        raise ConfigError("'system' must be a text.")
    history = _parse_messages(request.get("messages"))
    return ChatRequest(request_id, history, system, _apply_settings(request.get("settings"), defaults))


def _parse_messages(messages: Any) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise ConfigError('\'messages\' must be a non-empty list of {"role", "content"} objects.')
    history = []
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ConfigError(f"message {number} must be an object with a text 'content'.")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise ConfigError(
                f"message {number} has role {role!r}: expected 'user' or 'assistant' "
                "(the system prompt goes in 'system')."
            )
        history.append(Message(role, message["content"]))
    if history[-1].role != "user":
        raise ConfigError("the last message must be the user's new message (role 'user').")
    return history


def _apply_settings(settings: Any, defaults: PredictionSection) -> PredictionSection:
    if settings is None:
        return defaults
    if not isinstance(settings, dict):
        raise ConfigError("'settings' must be an object of prediction settings.")
    unknown = sorted(set(settings) - set(GENERATION_SETTINGS))
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r}: expected some of {', '.join(GENERATION_SETTINGS)}."
        )
    try:
        return dataclasses.replace(defaults, **settings)
    except (TypeError, ValueError) as exc:  # a value of the wrong type that coercion let through
        raise ConfigError(f"bad settings: {exc}") from exc
