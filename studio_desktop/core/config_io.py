"""Reading and writing experiment configs as YAML (H2O LLM Studio cfg.yaml compatible) and overrides."""

from __future__ import annotations

import dataclasses
import difflib
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from studio_desktop.core.config import (
    SECTIONS,
    ExperimentConfig,
    all_field_infos,
    default_config,
    describe_fields,
)
from studio_desktop.core.config_fields import NO_EFFECT, excerpt
from studio_desktop.core.errors import ConfigError
from studio_desktop.core.safe_yaml import YamlLimitError, load_bounded

TOP_LEVEL_KEYS = ("experiment_name", "llm_backbone", "problem_type", "output_directory")


@dataclasses.dataclass(frozen=True)
class LoadedConfig:
    """A config and the warnings about keys that were ignored while reading it."""

    config: ExperimentConfig
    warnings: tuple[str, ...]


def load_config(path: str | Path) -> LoadedConfig:
    """Read a YAML config file; unknown keys are dropped with one warning each, missing keys take defaults."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file ({err}).") from None
    try:
        data = load_bounded(text)
    except YamlLimitError as err:
        raise ConfigError(f"{path}: refused: the YAML is {err}.") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}{where}: not valid YAML: {excerpt(problem, 200)}.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of settings, found {type(data).__name__}.")
    try:
        return config_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def config_from_dict(data: dict[str, Any]) -> LoadedConfig:
    """Build a config from nested ``{section: {field: value}}`` data on top of the problem type's defaults."""
    warnings: list[str] = []
    problem_type = data.get("problem_type") or default_config().problem_type
    base = default_config(str(problem_type))
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in TOP_LEVEL_KEYS:
            values[key] = value
        elif key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(
                    f"section '{key}' must be a mapping of settings, found {type(value).__name__}."
                )
            known = {f.name for f in dataclasses.fields(SECTIONS[key])}
            for name, item in value.items():
                if name in known:
                    values[f"{key}.{name}"] = item
                else:
                    warnings.append(f"unknown setting '{key}.{name}' ignored")
        else:
            warnings.append(f"unknown setting '{key}' ignored")
    if values.get("prediction.metric") == JUDGE_METRIC:
        values["prediction.metric"] = base.prediction.metric
        warnings.append(
            f"prediction.metric '{JUDGE_METRIC}' needs an LLM judge, which is not available yet; "
            f"{base.prediction.metric} is used"
        )
    config = base.replace(values)
    warnings.extend(no_effect_warnings(config, base))
    return LoadedConfig(config=config, warnings=tuple(warnings))


JUDGE_METRIC = "GPT"  # H2O LLM Studio's LLM-as-judge metric


def no_effect_warnings(cfg: ExperimentConfig, base: ExperimentConfig) -> list[str]:
    """One warning per setting without effect that ``cfg`` sets to other than its default."""
    return [
        f"'{info.path}' {NO_EFFECT}"
        for info in all_field_infos()
        if not info.applied and cfg.get(info.path) != base.get(info.path)
    ]


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """Nested plain data in a fixed order: top-level settings, then the sections as declared."""
    data: dict[str, Any] = {key: getattr(cfg, key) for key in TOP_LEVEL_KEYS}
    for name in SECTIONS:
        section = dataclasses.asdict(cfg.section(name))  # type: ignore[call-overload]
        data[name] = {key: list(v) if isinstance(v, tuple) else v for key, v in section.items()}
    return data


def dump_config(cfg: ExperimentConfig) -> str:
    """The config as YAML text; the same config always gives the same text."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)


def save_config(cfg: ExperimentConfig, path: str | Path) -> Path:
    """Write the config atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cfg-", suffix=".yaml", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(dump_config(cfg))
    os.replace(tmp, path)
    return path


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``section.field=value``; the value is read as YAML (``true``, ``16``, ``[a, b]``)."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ConfigError(f"override {text!r} must look like section.field=value.")
    try:
        value = load_bounded(raw) if raw.strip() else ""
    except YamlLimitError as err:
        raise ConfigError(f"override {excerpt(text, 80)} refused: its value is {err}.") from None
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(cfg: ExperimentConfig, overrides: list[str]) -> ExperimentConfig:
    """Apply ``--set section.field=value`` overrides; an unknown field is an error suggesting close names."""
    known = [info.path for info in describe_fields()]
    without_effect = {info.path for info in all_field_infos() if not info.applied}
    values: dict[str, Any] = {}
    for text in overrides:
        path, value = parse_override(text)
        if path in without_effect:
            raise ConfigError(f"{path} {NO_EFFECT}; it cannot be set (override {text!r}).")
        if path not in known:
            close = difflib.get_close_matches(path, known, n=3)
            hint = (
                f" Did you mean: {', '.join(close)}?" if close else " See 'studio-desktop config defaults'."
            )
            raise ConfigError(f"unknown setting {path!r} in override {text!r}.{hint}")
        values[path] = value
    return cfg.replace(values)
