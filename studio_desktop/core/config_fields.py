"""Field metadata and validation shared by every config section.

Each setting is declared once with ``setting(...)``; its help, range and choices drive the CLI help, the GUI
form and its tooltips, and the validation that names ``section.field`` on a bad value.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from studio_desktop.core.errors import ConfigError

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}
NONE_WORDS = {"", "none", "null", "~"}


def setting(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[Any, ...] | None = None,
    problem_types: tuple[str, ...] | None = None,
    depends_on: tuple[str, Any] | None = None,
    advanced: bool = False,
    applied: bool = True,
    code: bool = False,
) -> Any:
    """Declare a config field with its help text, allowed range or choices and where it applies.

    ``depends_on`` is ``("section.field", value)``: the field only matters when that field has that value.
    ``applied=False`` declares a setting accepted for H2O cfg.yaml compatibility that has no effect: it is
    kept in saved configs but hidden from the form and ``--set``, and loading a config that sets it warns.
    ``code=True`` marks a text that is Python source (the form edits it in a code editor).
    """
    metadata = {
        "help": help,
        "min": minimum,
        "max": maximum,
        "choices": choices,
        "problem_types": problem_types,
        "depends_on": depends_on,
        "advanced": advanced,
        "applied": applied,
        "code": code,
    }
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed; use a tuple")
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class FieldInfo:
    """Everything a front end needs to show and check one setting."""

    path: str
    type_name: str
    default: Any
    help: str
    minimum: float | None
    maximum: float | None
    choices: tuple[Any, ...] | None
    problem_types: tuple[str, ...] | None
    depends_on: tuple[str, Any] | None
    advanced: bool
    applied: bool = True
    code: bool = False

    def allowed(self) -> str:
        """A short phrase describing the allowed values."""
        if self.choices:
            if self.type_name == "list":
                return "a list of: " + ", ".join(map(str, self.choices))
            return "one of: " + ", ".join(map(str, self.choices))
        article = "an" if self.type_name[0] in "aeiou" else "a"
        if self.minimum is not None and self.maximum is not None:
            return f"{article} {self.type_name} from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"{article} {self.type_name} of at least {self.minimum:g}"
        return f"{article} {self.type_name}"


class Section:
    """Base of the frozen config sections: coerces and validates every field after construction."""

    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            info = field_info(self.SECTION, f, hints[f.name])
            value = coerce_value(getattr(self, f.name), hints[f.name], info)
            check_range(value, info)
            object.__setattr__(self, f.name, value)

    @classmethod
    def field_infos(cls) -> list[FieldInfo]:
        """Metadata of every field of this section, in declaration order."""
        hints = typing.get_type_hints(cls)
        return [field_info(cls.SECTION, f, hints[f.name]) for f in dataclasses.fields(cls)]  # type: ignore[arg-type]


def field_info(section: str, f: dataclasses.Field, annotation: Any) -> FieldInfo:
    """Build the FieldInfo of one dataclass field."""
    meta = f.metadata
    path = f"{section}.{f.name}" if section else f.name
    return FieldInfo(
        path=path,
        type_name=type_name(annotation),
        default=f.default,
        help=meta.get("help", ""),
        minimum=meta.get("min"),
        maximum=meta.get("max"),
        choices=meta.get("choices"),
        problem_types=meta.get("problem_types"),
        depends_on=meta.get("depends_on"),
        advanced=meta.get("advanced", False),
        applied=meta.get("applied", True),
        code=meta.get("code", False),
    )


def type_name(annotation: Any) -> str:
    """Human name of a supported annotation: bool, int, float, text, list or optional text."""
    base, optional = split_optional(annotation)
    if typing.get_origin(base) is tuple:
        return "list"
    name = {bool: "bool", int: "int", float: "float", str: "text"}[base]
    return f"{name} or empty" if optional else name


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """Return the annotation without ``| None`` and whether None was allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


NO_EFFECT = "is accepted for H2O cfg.yaml compatibility and has no effect"


def excerpt(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: an error line never quotes a whole huge value."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def bad_value(info: FieldInfo, value: Any) -> ConfigError:
    """The error for a value that is not allowed."""
    return ConfigError(f"{info.path} = {excerpt(repr(value))} is not allowed: expected {info.allowed()}.")


def coerce_value(value: Any, annotation: Any, info: FieldInfo) -> Any:
    """Convert YAML or command-line input to the field's type, or raise a ConfigError naming the field."""
    base, optional = split_optional(annotation)
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in NONE_WORDS)):
        return None
    if typing.get_origin(base) is tuple:
        return coerce_list(value, info)
    if base is str and info.choices and {"true", "false"} <= set(info.choices):
        value = tri_state(value)
    try:
        return coerce_scalar(value, base)
    except (TypeError, ValueError):
        raise bad_value(info, value) from None


def tri_state(value: Any) -> Any:
    """A yes/no value of a setting whose choices are auto, true and false: booleans and their words
    become "true"/"false" (so H2O configs that hold a boolean load); anything else is left as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return "true" if value.strip().lower() in TRUE_WORDS else "false"
    return value


def coerce_scalar(value: Any, base: type) -> Any:
    """Convert one scalar; raises ValueError or TypeError when it cannot."""
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(value)
    if isinstance(value, bool) or value is None:
        raise TypeError(value)
    if base is int:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(value)
        return int(number)
    if base is float:
        number = float(value)
        if not math.isfinite(number):  # NaN passes every range check, infinity is no setting's value
            raise ValueError(value)
        return number
    if isinstance(value, (dict, list, tuple)):
        raise TypeError(value)
    return str(value)


def coerce_list(value: Any, info: FieldInfo) -> tuple[str, ...]:
    """Lists come from YAML sequences or comma-separated text; empty or None means an empty list."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = [] if value.strip().lower() in NONE_WORDS else value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise bad_value(info, value)
    if any(isinstance(item, (dict, list, tuple)) or item is None for item in items):
        raise bad_value(info, value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def check_range(value: Any, info: FieldInfo) -> None:
    """Check choices and numeric bounds."""
    if value is None:
        return
    if info.choices is not None:
        values = value if isinstance(value, tuple) else (value,)
        if any(v not in info.choices for v in values):
            raise bad_value(info, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        too_low = info.minimum is not None and value < info.minimum
        too_high = info.maximum is not None and value > info.maximum
        if too_low or too_high:
            raise bad_value(info, value)
