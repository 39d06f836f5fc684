"""The experiment configuration: top-level settings plus one frozen section per group.

Defaults depend on the problem type (``default_config``); checks that span sections run in
``ExperimentConfig.__post_init__`` and name the fields involved.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.core.config_fields import FieldInfo, Section, setting
from studio_desktop.core.config_sections import (
    SECTIONS,
    ArchitectureSection,
    AugmentationSection,
    DatasetSection,
    EnvironmentSection,
    LoggingSection,
    PredictionSection,
    TokenizerSection,
    TrainingSection,
)
from studio_desktop.core.errors import ConfigError
from studio_desktop.core.problem_types import (
    CAUSAL_LM,
    CLASSIFICATION,
    DPO,
    GRPO,
    LOSSES,
    METRICS,
    PRETRAINING,
    PROBLEM_TYPES,
    REGRESSION,
)
from studio_desktop.core.training.rewards import RewardSettings, check_reward_settings

__all__ = [
    "CAUSAL_LM",
    "CLASSIFICATION",
    "DPO",
    "GRPO",
    "PROBLEM_TYPES",
    "REGRESSION",
    "SECTIONS",
    "ExperimentConfig",
    "default_config",
    "describe_fields",
]


MIN_PREFERENCE_BETA = 0.01


@dataclass(frozen=True)
class TopLevel(Section):
    """The settings outside any section (declared here so they carry metadata like the rest)."""

    SECTION = ""
    experiment_name: str = setting("", "Name of the experiment; empty: one is generated.")
    llm_backbone: str = setting(
        BUNDLED_BACKBONE, "Backbone: the bundled model, a local model folder, a GGUF file or a hub id."
    )
    problem_type: str = setting(CAUSAL_LM, "What the model learns to do.", choices=PROBLEM_TYPES)
    output_directory: str = setting(
        "", "Experiment folder; empty: in the working directory.", advanced=True, applied=False
    )


PROBLEM_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    CAUSAL_LM: {},
    DPO: {
        "training": {"loss_function": "DPOLoss", "gradient_clip": 10.0},
        "dataset": {"limit_chained_samples": True},
    },
    CLASSIFICATION: {
        "training": {"loss_function": "BinaryCrossEntropyLoss"},
        "prediction": {"metric": "AUC"},
        "dataset": {"add_eos_token_to_answer": False, "add_eos_token_to_prompt": False},
    },
    REGRESSION: {
        "training": {"loss_function": "MSELoss"},
        "prediction": {"metric": "MSE"},
        "dataset": {"add_eos_token_to_answer": False, "add_eos_token_to_prompt": False},
    },
    PRETRAINING: {},
    GRPO: {
        "training": {"loss_function": "DAPOLoss", "beta": 0.04, "batch_size": 4, "learning_rate": 2e-5},
        "prediction": {"metric": "Reward"},
        "dataset": {"limit_chained_samples": True},
    },
}


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines an experiment. Frozen once a run starts; runtime state never goes here."""

    experiment_name: str = ""
    llm_backbone: str = BUNDLED_BACKBONE
    problem_type: str = CAUSAL_LM
    output_directory: str = ""
    dataset: DatasetSection = field(default_factory=DatasetSection)
    tokenizer: TokenizerSection = field(default_factory=TokenizerSection)
    architecture: ArchitectureSection = field(default_factory=ArchitectureSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    augmentation: AugmentationSection = field(default_factory=AugmentationSection)
    prediction: PredictionSection = field(default_factory=PredictionSection)
    environment: EnvironmentSection = field(default_factory=EnvironmentSection)
    logging: LoggingSection = field(default_factory=LoggingSection)

    def __post_init__(self) -> None:
        top = TopLevel(
            experiment_name=self.experiment_name,
            llm_backbone=self.llm_backbone,
            problem_type=self.problem_type,
            output_directory=self.output_directory,
        )
        for name in ("experiment_name", "llm_backbone", "problem_type", "output_directory"):
            object.__setattr__(self, name, getattr(top, name))
        check_problem_type_rules(self)

    def section(self, name: str) -> Section:
        """The section called ``name`` (e.g. "training")."""
        return getattr(self, name)

    def get(self, path: str) -> Any:
        """Value of ``section.field`` or of a top-level field."""
        section, _, name = path.rpartition(".")
        owner = self.section(section) if section else self
        return getattr(owner, name)

    def replace(self, values: dict[str, Any]) -> ExperimentConfig:
        """A copy with ``{"section.field": value}`` changes applied and validated.

        A new ``problem_type`` brings its defaults for every setting still at the old type's default, and
        for a loss or metric that does not fit it; values given alongside win.
        """
        values = {**self._problem_type_swap(values.get("problem_type", self.problem_type), values), **values}
        top: dict[str, Any] = {}
        per_section: dict[str, dict[str, Any]] = {}
        for path, value in values.items():
            section, _, name = path.rpartition(".")
            if section:
                per_section.setdefault(section, {})[name] = value
            else:
                top[name] = value
        sections = {
            name: dataclasses.replace(self.section(name), **changes) for name, changes in per_section.items()
        }
        return dataclasses.replace(self, **top, **sections)

    def _problem_type_swap(self, new: str, values: dict[str, Any]) -> dict[str, Any]:
        """The settings that change with a switch from this problem type to ``new``."""
        if new == self.problem_type or new not in PROBLEM_DEFAULTS:
            return {}
        old_defaults, new_defaults = default_config(self.problem_type), default_config(new)
        paths = {
            f"{section}.{name}"
            for table in (PROBLEM_DEFAULTS[self.problem_type], PROBLEM_DEFAULTS[new])
            for section, fields in table.items()
            for name in fields
        }
        swap = {path: new_defaults.get(path) for path in paths if self.get(path) == old_defaults.get(path)}
        if self.training.loss_function not in LOSSES[new]:
            swap["training.loss_function"] = new_defaults.training.loss_function
        if self.prediction.metric not in METRICS[new]:
            swap["prediction.metric"] = new_defaults.prediction.metric
        return {path: value for path, value in swap.items() if path not in values}


def check_problem_type_rules(cfg: ExperimentConfig) -> None:
    """Checks that span sections; each message names the fields involved."""
    pt = cfg.problem_type
    if cfg.training.loss_function not in LOSSES[pt]:
        raise ConfigError(
            f"training.loss_function = {cfg.training.loss_function!r} does not fit problem_type {pt}: "
            f"expected one of: {', '.join(LOSSES[pt])}."
        )
    if cfg.prediction.metric not in METRICS[pt]:
        raise ConfigError(
            f"prediction.metric = {cfg.prediction.metric!r} does not fit problem_type {pt}: "
            f"expected one of: {', '.join(METRICS[pt])}."
        )
    if pt in (CAUSAL_LM, DPO) and len(cfg.dataset.answer_column) > 1:
        raise ConfigError(
            f"dataset.answer_column = {list(cfg.dataset.answer_column)!r}: {pt} takes a single answer column."
        )
    if pt == CLASSIFICATION:
        check_classification(cfg)
    if pt == DPO and cfg.training.beta < MIN_PREFERENCE_BETA:
        raise ConfigError(
            f"training.beta = {cfg.training.beta:g} is too small for preference optimisation: use at least "
            f"{MIN_PREFERENCE_BETA:g}."
        )
    if pt == GRPO:
        check_grpo(cfg)
    if pt in (CLASSIFICATION, REGRESSION) and cfg.dataset.parent_id_column:
        raise ConfigError(
            f"dataset.parent_id_column must be empty for {pt}: multi-turn chains are not supported."
        )
    if cfg.architecture.backbone_dtype in ("int4", "int8") and not cfg.training.lora:
        raise ConfigError(
            f"architecture.backbone_dtype = {cfg.architecture.backbone_dtype!r} needs training.lora = true: "
            "quantised weights cannot be trained directly. Enable LoRA or pick float32/bfloat16/float16."
        )
    if cfg.dataset.validation_strategy == "custom" and not cfg.dataset.validation_dataframe:
        raise ConfigError(
            "dataset.validation_dataframe is empty but dataset.validation_strategy = 'custom': "
            "name a validation dataset or file, or use 'automatic'."
        )


def check_grpo(cfg: ExperimentConfig) -> None:
    """Group sizes and rewards of GRPO: every batch holds whole groups of completions of one prompt."""
    training, groups = cfg.training, cfg.training.num_generations
    for path, size in (
        ("training.batch_size", training.batch_size),
        ("prediction.batch_size_inference", cfg.prediction.batch_size_inference),
    ):
        if size and size % groups:
            raise ConfigError(
                f"{path} = {size} must be a multiple of training.num_generations = {groups}: each batch "
                "holds whole groups of completions of one prompt."
            )
    check_reward_settings(RewardSettings.of(training))


def check_classification(cfg: ExperimentConfig) -> None:
    """Loss and class-count rules of classification (as in H2O LLM Studio). BinaryCrossEntropyLoss with
    num_classes > 1 is multilabel data: its label columns (named here, or those of the imported dataset)
    are checked against the data when the run starts."""
    loss, classes = cfg.training.loss_function, cfg.dataset.num_classes
    multilabel = len(cfg.dataset.answer_column) > 1
    if loss == "CrossEntropyLoss" and (classes == 1 or multilabel):
        raise ConfigError(
            "training.loss_function = 'CrossEntropyLoss' needs dataset.num_classes > 1 and a single "
            "answer column; "
            "use BinaryCrossEntropyLoss for binary or multilabel data."
        )
    if loss == "BinaryCrossEntropyLoss" and classes != 1 and len(cfg.dataset.answer_column) == 1:
        raise ConfigError(
            f"training.loss_function = 'BinaryCrossEntropyLoss' with dataset.num_classes = {classes} and one "
            "answer column: use CrossEntropyLoss for multiclass data, or num_classes = 1."
        )
    if multilabel and classes != len(cfg.dataset.answer_column):
        raise ConfigError(
            f"dataset.num_classes = {classes} must equal the number of answer columns "
            f"({len(cfg.dataset.answer_column)}) for multilabel classification."
        )


def default_config(problem_type: str = CAUSAL_LM) -> ExperimentConfig:
    """The defaults for a problem type."""
    if problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"problem_type = {problem_type!r} is not allowed: expected one of: {', '.join(PROBLEM_TYPES)}."
        )
    sections = {name: SECTIONS[name](**PROBLEM_DEFAULTS[problem_type].get(name, {})) for name in SECTIONS}
    return ExperimentConfig(problem_type=problem_type, **sections)  # type: ignore[arg-type]


def all_field_infos() -> list[FieldInfo]:
    """Metadata of every declared setting, those without effect included (top level first)."""
    infos = TopLevel.field_infos()
    for section in SECTIONS.values():
        infos.extend(section.field_infos())
    return infos


def describe_fields(problem_type: str | None = None) -> list[FieldInfo]:
    """Metadata of every applied setting (top level first), optionally only those that apply to a problem
    type. Defaults are those of the problem type when one is given.
    """
    defaults = default_config(problem_type or CAUSAL_LM)
    infos = [
        dataclasses.replace(info, default=defaults.get(info.path))
        for info in all_field_infos()
        if info.applied
    ]
    if problem_type is None:
        return infos
    return [info for info in infos if info.problem_types is None or problem_type in info.problem_types]
