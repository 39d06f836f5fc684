"""The recipe seam: one recipe per problem type turns conversations into datasets and builds its trainer.

The worker resolves the inputs (catalogue, backbone folder, warm-start weights), builds a ``RunSetup`` and
calls ``core.training.run.run_recipe`` with the recipe of the config's problem type. This module imports no
torch: a recipe module is only imported when a run asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from studio_desktop.core.data.targets import DataSource
from studio_desktop.core.events import Event, Log
from studio_desktop.core.problem_types import CAUSAL_LM, CLASSIFICATION, DPO, GRPO, PRETRAINING, REGRESSION

if TYPE_CHECKING:
    from studio_desktop.core.config import ExperimentConfig
    from studio_desktop.core.head_shape import HeadShape
    from studio_desktop.core.memory_plan import MemoryPlan
    from studio_desktop.core.precision import Precision

# problem type -> module that defines ``RECIPE`` (every problem type has one).
RECIPE_MODULES: dict[str, str] = {
    CAUSAL_LM: "studio_desktop.core.training.sft",
    PRETRAINING: "studio_desktop.core.training.pretraining",
    DPO: "studio_desktop.core.training.dpo",
    CLASSIFICATION: "studio_desktop.core.training.heads",
    REGRESSION: "studio_desktop.core.training.heads",
    GRPO: "studio_desktop.core.training.grpo",
}


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
    train_source: DataSource = field(default_factory=lambda: DataSource("training data"))
    validation_source: DataSource = field(default_factory=lambda: DataSource("validation data"))

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

    def build_datasets(self, setup: RunSetup, tokenizer: Any, train: list[Any], validation: list[Any]) -> Any:
        """The recipe's training and validation data from conversations (raw-text documents for continued
        pretraining), ready for ``build_trainer``; built before the model is loaded, so bad data fails the run
        at once."""
        ...

    def model_head(self, data: Any) -> HeadShape | None:
        """The head the backbone is loaded with for ``data`` (None: the causal LM as it is)."""
        ...

    def build_trainer(self, setup: RunSetup, model: Any, tokenizer: Any, data: Any) -> TrainerRun:
        """The trainer over ``model`` and ``data``, with its event callback."""
        ...


def load_recipe(problem_type: str) -> Recipe:
    """The recipe of ``problem_type`` (its module is imported now)."""
    return importlib.import_module(RECIPE_MODULES[problem_type]).RECIPE
