"""The command line that reproduces a form's config: ``train --config`` plus its ``--set`` overrides."""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml

from studio_desktop.core.config import CAUSAL_LM, ExperimentConfig, default_config, describe_fields


def override_text(value: Any) -> str:
    """A value as ``--set`` reads it back (YAML): lists and ambiguous text are written as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    text = str(value)
    try:
        plain = text != "" and yaml.safe_load(text) == text
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text, ensure_ascii=False)


def cli_command(cfg: ExperimentConfig, config_path: str) -> str:
    """``studio-desktop train --config PATH`` plus a ``--set`` for every value that is not the default of
    the config's problem type (and the problem type itself when it is not the default one)."""
    defaults = default_config(cfg.problem_type)
    parts = ["studio-desktop", "train", "--config", shlex.quote(config_path)]
    if cfg.problem_type != CAUSAL_LM:
        parts += ["--set", shlex.quote(f"problem_type={cfg.problem_type}")]
    for info in describe_fields():
        value = cfg.get(info.path)
        if info.path != "problem_type" and value != defaults.get(info.path):
            parts += ["--set", shlex.quote(f"{info.path}={override_text(value)}")]
    return " ".join(parts)
