"""Every setting offered is applied by some module; the others are declared without effect and say so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from studio_desktop.core.config import all_field_infos, default_config, describe_fields
from studio_desktop.core.config_io import apply_overrides, config_from_dict
from studio_desktop.core.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[2] / "studio_desktop"
# Modules that declare, validate or load settings: reading a field there does not apply it.
CONFIG_MODULES = {"config.py", "config_sections.py", "config_fields.py", "config_io.py"}


def _sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*.py")
        if path.name not in CONFIG_MODULES and "gui" not in path.parts
    }


def test_every_applied_setting_of_a_trainable_problem_type_is_read_outside_the_config_modules() -> None:
    sources = _sources()
    unread = []
    for info in describe_fields():
        name = info.path.rpartition(".")[2]
        pattern = re.compile(rf"\.{re.escape(name)}\b|[\"']{re.escape(info.path)}[\"']")
        if not any(pattern.search(text) for text in sources.values()):
            unread.append(info.path)
    assert unread == []


def test_settings_without_effect_are_hidden_and_refused_by_set() -> None:
    hidden = {info.path for info in all_field_infos() if not info.applied}
    assert {"environment.use_deepspeed", "tokenizer.tokenizer_kwargs", "output_directory"} <= hidden
    assert not hidden & {info.path for info in describe_fields()}
    with pytest.raises(ConfigError, match=r"environment\.use_deepspeed is accepted for H2O cfg\.yaml"):
        apply_overrides(default_config(), ["environment.use_deepspeed=true"])


def test_loading_a_config_that_sets_one_warns_once_naming_it() -> None:
    loaded = config_from_dict(
        {
            "environment": {"use_deepspeed": True, "deepspeed_method": "ZeRO2"},
            "logging": {"log_all_ranks": True},
        }
    )
    assert loaded.config.environment.use_deepspeed is True  # kept, so a saved config round-trips
    assert [w for w in loaded.warnings if "no effect" in w] == [
        "'environment.use_deepspeed' is accepted for H2O cfg.yaml compatibility and has no effect",
        "'logging.log_all_ranks' is accepted for H2O cfg.yaml compatibility and has no effect",
    ]
    assert not config_from_dict({}).warnings
