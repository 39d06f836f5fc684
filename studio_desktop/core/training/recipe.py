"""The recipe seam: one recipe per problem type turns conversations into datasets and builds its trainer.

The worker resolves the inputs (catalogue, backbone folder, warm-start weights), builds a ``RunSetup`` and
calls ``core.training.run.run_recipe`` with the recipe of the config's problem type. This module imports no
torch: the form, ``config validate`` and the CLI read ``TRAINABLE`` from here, and a recipe module is only
imported when a run asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from studio_desktop.core.errors import ConfigError
from studio_desktop.core.events import Event, Log
from studio_desktop.core.problem_types import CAUSAL_LM, DPO

if TYPE_CHECKING:
    from studio_desktop.core.config import ExperimentConfig
    from studio_desktop.core.data.conversations import Conversation
    from studio_desktop.core.memory_plan import MemoryPlan
    from studio_desktop.core.precision import Precision

# problem type -> module that defines ``RECIPE``; the order is the order the form offers them in.
RECIPE_MODULES: dict[str, str] = {
    CAUSAL_LM: "studio_desktop.core.training.sft",
    DPO: "studio_desktop.core.training.dpo",
}
TRAINABLE: tuple[str, ...] = tuple(RECIPE_MODULES)


class Sink(Protocol):
    """Where a run's events go (the experiment's events file in the worker)."""

    def emit(self, event: Event) -> None: ...


@dataclass(frozen=True)
class RunPaths:
    """The files and folders of one run."""

    folder: Path
    checkpoints: Path
    model: Path
    predictions: Path


@dataclass(frozen=True)
class RunSetup:
    """Everything a recipe needs besides the model, the tokenizer and the data."""

    cfg: ExperimentConfig
    paths: RunPaths
    sink: Sink
    should_stop: Callable[[], bool]
    seed: int
    device: str
    precision: Precision
    memory: MemoryPlan | None = None

    @property
    def checkpointing(self) -> bool:
        """Gradient checkpointing as the memory plan decided (the setting itself without a plan)."""
        if self.memory is not None:
            return self.memory.checkpointing
        return self.cfg.architecture.gradient_checkpointing == "true"

    def log(self, message: str, level: str = "info") -> None:
        """Write a log event."""
        self.sink.emit(Log(level=level, message=message))  # type: ignore[arg-type]


@dataclass(frozen=True)
class TrainerRun:
    """A built trainer and the callback that turns its logs into events and honours stop requests."""

    trainer: Any
    callback: Any


class Recipe(Protocol):
    """How one problem type trains."""

    def build_datasets(
        self, setup: RunSetup, tokenizer: Any, train: list[Conversation], validation: list[Conversation]
    ) -> Any:
        """The recipe's training and validation data, ready for ``build_trainer``."""
        ...

    def build_trainer(self, setup: RunSetup, model: Any, tokenizer: Any, data: Any) -> TrainerRun:
        """The trainer over ``model`` and ``data``, with its event callback."""
        ...


def check_trainable(problem_type: str) -> None:
    """Refuse a problem type that no recipe trains, naming the ones that do."""
    if problem_type not in RECIPE_MODULES:
        raise ConfigError(
            f"problem_type = {problem_type!r} cannot be trained: expected one of: {', '.join(TRAINABLE)}."
        )


def load_recipe(problem_type: str) -> Recipe:
    """The recipe of ``problem_type`` (its module is imported now)."""
    check_trainable(problem_type)
    return importlib.import_module(RECIPE_MODULES[problem_type]).RECIPE
