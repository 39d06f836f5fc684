"""Shared fixtures: an isolated working directory, the tiny test model and a dataset it can learn."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from studio_desktop.core.config import ExperimentConfig, default_config
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.workdir import Workdir, open_workdir
from tests.support.facts import FACTS
from tests.support.keyrings import MemoryKeyring

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random Llama and its ChatML tokenizer (built once per test session)."""
    from tests.support.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def varied_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with larger random weights, so that greedy text varies instead of repeating."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("varied-model")
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def private_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write the user's own settings folder (where the workdir pointer lives)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config-home")))


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Secrets kept in this process only, for the duration of a test."""
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """No usable keyring, as on a headless machine."""
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory that every part of the app uses for this test."""
    root = tmp_path / "workdir"
    monkeypatch.setenv("STUDIO_DESKTOP_WORKDIR", str(root))
    monkeypatch.delenv("HF_HOME", raising=False)
    return root


@pytest.fixture
def trained_workdir(workdir: Path, tiny_model_dir: Path) -> tuple[Workdir, Catalog]:
    """A working directory with the ``facts`` dataset (10 questions, 2 held out) imported."""
    wd = open_workdir()
    catalog = Catalog(wd.catalog_path)
    source = workdir.parent / "facts.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "answer"])
        writer.writerows(FACTS)
    import_dataset(
        wd,
        catalog,
        ImportRequest(source=source, name="facts", backbone=str(tiny_model_dir), validation_size=0.2),
    )
    return wd, catalog


@pytest.fixture
def make_config(tiny_model_dir: Path) -> Callable[..., ExperimentConfig]:
    """A small, fast config on the tiny model; keyword overrides name ``section__field``."""

    def make(name: str, **overrides: object) -> ExperimentConfig:
        values = {
            "experiment_name": name,
            "llm_backbone": str(tiny_model_dir),
            "dataset.train_dataframe": "facts",
            "dataset.validation_size": 0.2,
            "tokenizer.max_length": 64,
            "architecture.backbone_dtype": "float32",
            "architecture.gradient_checkpointing": False,
            "training.batch_size": 2,
            "training.epochs": 2,
            "training.learning_rate": 0.005,
            "training.lora_dropout": 0.0,
            "prediction.max_length_inference": 8,
            "environment.seed": 1234,
            "environment.mixed_precision": False,
        }
        values.update({key.replace("__", "."): value for key, value in overrides.items()})
        return default_config().replace(values)

    return make
