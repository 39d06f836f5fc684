"""The reward functions of GRPO runs: the built-in ones, the user's own Python function, and their weights.

Each built-in scores one completion against the row's reference answer (the answer column) or a rule;
``reward_functions`` turns the config's weights into the list TRL's GRPOTrainer calls, each under its own name
(its charts are ``rewards/<name>/mean``). The user's function is Python source in
``training.reward_custom_code`` defining ``reward(completion, prompt, reference) -> float``; it is compiled
and run only in the worker, and ``check_custom_reward`` calls it on three training rows before the run
starts, so a mistake is reported with its line instead of failing the run later. No torch here.
"""

from __future__ import annotations

import math
import re
import traceback
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from studio_desktop.core.errors import ConfigError

CUSTOM_FILE = "<training.reward_custom_code>"
CUSTOM_NAME = "reward"
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
DEFAULT_CUSTOM_CODE = '''def reward(completion: str, prompt: str, reference: str) -> float:
    """Score one completion: higher is better."""
    return 1.0 if reference.strip().lower() in completion.lower() else 0.0
'''

#: The reward functions by the name each is charted under (``rewards/<name>/mean``), in the form's order.
REWARD_NAMES = ("exact_match", "number_match", "format_match", "length_window", "custom")
Score = Callable[[str, str, str], float]
"""(completion, prompt, reference) -> reward."""


def normalised(text: str) -> str:
    """Text compared loosely: Unicode-normalised, case-folded, whitespace collapsed, outer punctuation off."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split()).strip(" .,;:!?\"'`()[]{}")


def exact_match(completion: str, _prompt: str, reference: str) -> float:
    """1 when the completion equals the reference answer once both are normalised, else 0."""
    return float(normalised(completion) == normalised(reference))


def last_number(text: str) -> float | None:
    """The last number written in ``text`` (thousands separators allowed), or None."""
    found = NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def number_match(completion: str, _prompt: str, reference: str) -> float:
    """1 when the last number of the completion equals the last number of the reference, else 0."""
    expected, got = last_number(reference), last_number(completion)
    if expected is None or got is None:
        return 0.0
    return float(math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9))


def format_match(pattern: str) -> Score:
    """1 when the completion matches ``pattern`` (a regular expression searched with DOTALL), else 0."""
    compiled = re.compile(pattern, re.DOTALL)
    return lambda completion, _prompt, _reference: float(compiled.search(completion) is not None)


def length_window(shortest: int, longest: int) -> Score:
    """1 when the completion has between ``shortest`` and ``longest`` characters, else 0."""
    return lambda completion, _prompt, _reference: float(shortest <= len(completion.strip()) <= longest)


@dataclass(frozen=True)
class RewardSettings:
    """The reward part of the training section: a weight per function (0: off) and their parameters."""

    exact_match: float
    number_match: float
    format_match: float
    length_window: float
    custom: float
    format_pattern: str
    length_min: int
    length_max: int
    custom_code: str

    @classmethod
    def of(cls, training: Any) -> RewardSettings:
        """The reward settings of a config's training section."""
        return cls(
            exact_match=training.reward_exact_match,
            number_match=training.reward_number_match,
            format_match=training.reward_format_match,
            length_window=training.reward_length_window,
            custom=training.reward_custom,
            format_pattern=training.reward_format_pattern,
            length_min=training.reward_length_min,
            length_max=training.reward_length_max,
            custom_code=training.reward_custom_code,
        )

    def scores(self) -> list[tuple[str, float, Score]]:
        """(name, weight, score) of every function with a weight."""
        builders: dict[str, Callable[[], Score]] = {
            "exact_match": lambda: exact_match,
            "number_match": lambda: number_match,
            "format_match": lambda: format_match(self.format_pattern),
            "length_window": lambda: length_window(self.length_min, self.length_max),
            "custom": lambda: compile_custom_reward(self.custom_code),
        }
        weighted = [(name, getattr(self, name)) for name in REWARD_NAMES]
        return [(name, weight, builders[name]()) for name, weight in weighted if weight]


def check_reward_settings(settings: RewardSettings) -> None:
    """Refuse settings no run could use: no function weighted, a pattern that does not compile, an empty
    length window."""
    if not any(getattr(settings, name) for name in REWARD_NAMES):
        raise ConfigError(
            "every reward weight is 0: give at least one of training.reward_exact_match, "
            "reward_number_match, reward_format_match, reward_length_window or reward_custom a weight."
        )
    try:
        re.compile(settings.format_pattern)
    except re.error as exc:
        raise ConfigError(f"training.reward_format_pattern is not a regular expression: {exc}.") from None
    if settings.length_min > settings.length_max:
        raise ConfigError(
            f"training.reward_length_min ({settings.length_min}) is above training.reward_length_max "
            f"({settings.length_max})."
        )


def compile_custom_reward(code: str) -> Score:
    """The ``reward`` function the user's code defines (its code is run to define it)."""
    try:
        compiled = compile(code, CUSTOM_FILE, "exec")
    except SyntaxError as exc:
        raise ConfigError(
            f"training.reward_custom_code line {exc.lineno}: {exc.msg}"
            + (f": {exc.text.strip()}" if exc.text else "")
        ) from None
    namespace: dict[str, Any] = {"__name__": "studio_reward"}
    try:
        # The user's own reward function: this module runs it in the training worker only.
        exec(compiled, namespace)
    except Exception as exc:
        raise ConfigError(
            f"training.reward_custom_code {code_line(exc)}: {type(exc).__name__}: {exc}"
        ) from None
    function = namespace.get(CUSTOM_NAME)
    if not callable(function):
        raise ConfigError(
            "training.reward_custom_code defines no function named 'reward'; write "
            "def reward(completion: str, prompt: str, reference: str) -> float."
        )
    return function


def check_custom_reward(score: Score, rows: Sequence[tuple[str, str]], what: str = "training row") -> None:
    """Call the user's function on ``rows`` of (prompt, reference), with the reference as the completion;
    refuse an exception (naming its line) or a result that is not a finite number."""
    for index, (prompt, reference) in enumerate(rows, start=1):
        try:
            value = score(reference, prompt, reference)
        except Exception as exc:
            raise ConfigError(
                f"training.reward_custom_code {code_line(exc)}: {type(exc).__name__}: {exc} "
                f"(called on {what} {index} with its reference answer as the completion)"
            ) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(
                f"training.reward_custom_code: reward() returned {value!r} for {what} {index}; it must "
                "return a finite number."
            )


def code_line(exc: BaseException) -> str:
    """``line N`` of the user's code where ``exc`` was raised (the innermost frame in it)."""
    lines = [
        frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == CUSTOM_FILE
    ]
    return f"line {lines[-1]}" if lines else "(while defining reward)"
