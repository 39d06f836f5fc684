"""Shared fixtures: an isolated working directory and the tiny test model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random Llama and its ChatML tokenizer (built once per test session)."""
    from tests.support.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory that every part of the app uses for this test."""
    root = tmp_path / "workdir"
    monkeypatch.setenv("STUDIO_DESKTOP_WORKDIR", str(root))
    monkeypatch.delenv("HF_HOME", raising=False)
    return root
