"""The raw text a continued-pretraining run trains and validates on.

A raw-text dataset gives its documents; a conversation dataset its conversations as plain text (system
prompt and turns, one paragraph each); a data file is read as raw text (``.txt``/``.md`` files, a folder of
them, or ``dataset.text_column`` of a table). The split, sampling and train-on-validation settings apply as
they do to conversations.
"""

from __future__ import annotations

import random
from pathlib import Path

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.data.documents import (
    TEXT_FORMAT,
    Document,
    conversation_text,
    read_documents,
    split_documents,
)
from studio_desktop.core.data.store import read_conversations
from studio_desktop.core.errors import ConfigError
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.dataset_import import read_documents_from
from studio_desktop.jobs.datasets import load_meta, split_files
from studio_desktop.jobs.training_data import SAMPLE_SEED, sampled

SPLIT_SEED = 1337


def _stored(name: str, catalog: Catalog, split: str) -> list[Document]:
    record = catalog.dataset(name)
    path = split_files(record)[split]
    if record.format == TEXT_FORMAT:
        return read_documents(path)
    return [conversation_text(conversation) for conversation in read_conversations(path)]


def _from_source(name: str, catalog: Catalog, cfg: ExperimentConfig, what: str) -> list[Document]:
    """Every document of a catalogue dataset (both splits) or of a data file."""
    if catalog.has_dataset(name):
        return _stored(name, catalog, "train") + _stored(name, catalog, "validation")
    path = Path(name).expanduser()
    if not path.exists():
        raise ConfigError(
            f"{what} = {name!r} is neither an imported dataset nor an existing file; "
            "'studio-desktop dataset list' shows the datasets."
        )
    return read_documents_from(path, {"text_column": cfg.dataset.text_column}).documents


def sample_documents(documents: list[Document], fraction: float) -> list[Document]:
    """A share of the documents (fixed seed, at least one), in their order."""
    if fraction >= 1.0:
        return documents
    keep = set(
        random.Random(SAMPLE_SEED).sample(range(len(documents)), max(1, round(len(documents) * fraction)))
    )
    return [document for index, document in enumerate(documents) if index in keep]


def load_training_documents(cfg: ExperimentConfig, catalog: Catalog) -> tuple[list[Document], list[Document]]:
    """Train and validation documents as the config asks."""
    dataset = cfg.dataset
    if not dataset.train_dataframe:
        raise ConfigError("dataset.train_dataframe is empty: name an imported dataset or a data file.")
    name = dataset.train_dataframe
    if dataset.validation_strategy == "custom":
        train = _from_source(name, catalog, cfg, "dataset.train_dataframe")
        validation = _from_source(dataset.validation_dataframe, catalog, cfg, "dataset.validation_dataframe")
    elif (
        catalog.has_dataset(name)
        and load_meta(catalog.dataset(name)).get("validation") == dataset.validation_size
    ):
        train, validation = _stored(name, catalog, "train"), _stored(name, catalog, "validation")
    else:
        documents = _from_source(name, catalog, cfg, "dataset.train_dataframe")
        train, validation = split_documents(documents, dataset.validation_size, SPLIT_SEED, name)
    return sampled(cfg, train, validation, sample_documents)
