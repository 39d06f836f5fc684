"""The conversations an experiment trains and validates on, from an imported dataset or a data file."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.documents import TEXT_FORMAT
from studio_desktop.core.data.split import split_train_validation
from studio_desktop.core.data.store import read_conversations
from studio_desktop.core.data.targets import DataSource
from studio_desktop.core.errors import ConfigError
from studio_desktop.core.problem_types import PRETRAINING
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.dataset_import import read_conversations_from
from studio_desktop.jobs.datasets import load_meta, split_files

SAMPLE_SEED = 7331
T = TypeVar("T")


def mapping_overrides(cfg: ExperimentConfig) -> dict[str, object]:
    """Column mapping fields set in the config's dataset section (empty ones are detected)."""
    dataset = cfg.dataset
    overrides: dict[str, object] = {}
    if dataset.prompt_column:
        overrides["prompt_columns"] = list(dataset.prompt_column)
    if dataset.answer_column:
        overrides["answer_column"] = dataset.answer_column[0]
        overrides["extra_answer_columns"] = list(dataset.answer_column[1:])
    fields = (
        "system_column",
        "id_column",
        "parent_id_column",
        "rejected_answer_column",
        "rejected_prompt_column",
    )
    for field in fields:
        if getattr(dataset, field):
            overrides[field] = getattr(dataset, field)
    if dataset.prompt_column:
        overrides["prompt_column_separator"] = dataset.prompt_column_separator
    return overrides


def check_conversational(name: str, catalog: Catalog, cfg: ExperimentConfig) -> None:
    """Refuse a raw-text dataset for a problem type that reads prompts and answers."""
    if catalog.has_dataset(name) and catalog.dataset(name).format == TEXT_FORMAT:
        raise ConfigError(
            f"dataset {name!r} is raw text, without prompts and answers: train it with problem_type "
            f"{PRETRAINING} (continued pretraining), or import a dataset of conversations for "
            f"{cfg.problem_type}."
        )


def _from_source(name: str, catalog: Catalog, cfg: ExperimentConfig, what: str) -> list[Conversation]:
    """Every conversation of a catalogue dataset (both splits) or of a data file."""
    check_conversational(name, catalog, cfg)
    if catalog.has_dataset(name):
        files = split_files(catalog.dataset(name))
        return read_conversations(files["train"]) + read_conversations(files["validation"])
    path = Path(name).expanduser()
    if not path.exists():
        raise ConfigError(
            f"{what} = {name!r} is neither an imported dataset nor an existing file; "
            "'studio-desktop dataset list' shows the datasets."
        )
    return read_conversations_from(path, mapping_overrides(cfg))[2]


def sample_conversations(conversations: list[Conversation], fraction: float) -> list[Conversation]:
    """A share of whole conversation trees (fixed seed, at least one tree)."""
    if fraction >= 1.0:
        return conversations
    trees = sorted({c.tree_id for c in conversations})
    keep = set(random.Random(SAMPLE_SEED).sample(trees, max(1, round(len(trees) * fraction))))
    return [c for c in conversations if c.tree_id in keep]


def expand_turns(conversations: list[Conversation]) -> list[Conversation]:
    """One sample per answer: every conversation also yields its shorter prefixes that end in an answer.

    This is H2O LLM Studio's ``limit_chained_samples: false``; prefixes shared by branches appear once.
    """
    seen: set[tuple[str, str, tuple]] = set()
    samples = []
    for conversation in conversations:
        for turns in range(1, conversation.turns + 1):
            messages = conversation.messages[: 2 * turns]
            key = (conversation.tree_id, conversation.system, messages)
            if key in seen:
                continue
            seen.add(key)
            suffix = "" if turns == conversation.turns else f"#{turns}"
            samples.append(
                dataclasses.replace(
                    conversation,
                    conversation_id=conversation.conversation_id + suffix,
                    messages=messages,
                    rejected_answer=conversation.rejected_answer if not suffix else None,
                    rejected_prompt=conversation.rejected_prompt if not suffix else None,
                )
            )
    return samples


def sampled(
    cfg: ExperimentConfig, train: list[T], validation: list[T], sample: Callable[[list[T], float], list[T]]
) -> tuple[list[T], list[T]]:
    """``dataset.data_sample`` of the splits ``data_sample_choice`` names (drawn by ``sample``), and the
    validation items added to training with ``training.train_validation_data``."""
    dataset = cfg.dataset
    if "Train" in dataset.data_sample_choice:
        train = sample(train, dataset.data_sample)
    if "Validation" in dataset.data_sample_choice:
        validation = sample(validation, dataset.data_sample)
    if cfg.training.train_validation_data:
        train = train + validation
    return train, validation


def load_training_conversations(
    cfg: ExperimentConfig, catalog: Catalog
) -> tuple[list[Conversation], list[Conversation]]:
    """Train and validation conversations as the config asks (split, custom file, sampling, one sample per
    answer or per conversation); validation always holds complete conversations."""
    dataset = cfg.dataset
    if not dataset.train_dataframe:
        raise ConfigError("dataset.train_dataframe is empty: name an imported dataset or a data file.")
    if dataset.validation_strategy == "custom":
        train = _from_source(dataset.train_dataframe, catalog, cfg, "dataset.train_dataframe")
        validation = _from_source(dataset.validation_dataframe, catalog, cfg, "dataset.validation_dataframe")
    elif catalog.has_dataset(dataset.train_dataframe):
        check_conversational(dataset.train_dataframe, catalog, cfg)
        record = catalog.dataset(dataset.train_dataframe)
        files = split_files(record)
        train, validation = read_conversations(files["train"]), read_conversations(files["validation"])
        if load_meta(record).get("validation") != dataset.validation_size:
            train, validation = split_train_validation(train + validation, dataset.validation_size)
    else:
        conversations = _from_source(dataset.train_dataframe, catalog, cfg, "dataset.train_dataframe")
        train, validation = split_train_validation(conversations, dataset.validation_size)
    train, validation = sampled(cfg, train, validation, sample_conversations)
    if not dataset.limit_chained_samples:
        train = expand_turns(train)
    return train, validation


def data_source(name: str, catalog: Catalog, cfg: ExperimentConfig) -> DataSource:
    """How messages about the rows of dataset or file ``name`` name it: the source file (of an imported
    dataset, with the dataset's name) and its answer column(s)."""
    if catalog.has_dataset(name):
        meta = load_meta(catalog.dataset(name))
        mapping = meta.get("mapping") or {}
        answers = [mapping.get("answer_column"), *(mapping.get("extra_answer_columns") or [])]
        file = Path(str(meta.get("source", name))).name
        return DataSource(f"{file} (dataset {name!r})", tuple(str(a) for a in answers if a))
    return DataSource(Path(name).name, tuple(cfg.dataset.answer_column))


def data_sources(cfg: ExperimentConfig, catalog: Catalog) -> tuple[DataSource, DataSource]:
    """The sources of the training and the validation rows (the same one unless validation is custom)."""
    dataset = cfg.dataset
    train = data_source(dataset.train_dataframe, catalog, cfg)
    if dataset.validation_strategy == "custom":
        return train, data_source(dataset.validation_dataframe, catalog, cfg)
    return train, train
