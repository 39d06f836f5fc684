"""Where the shipped resources (demo data and config, icons, templates) live, from source or frozen."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: beside the package in a source tree, inside the bundle when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def demo_dataset_file() -> Path:
    """The demo question/answer dataset about Studio Desktop."""
    return resources_dir() / "demo" / "studio_desktop_qa.csv"


def demo_preferences_file() -> Path:
    """A small preference set about Studio Desktop (prompt, chosen and rejected answers)."""
    return resources_dir() / "demo" / "studio_desktop_preferences.csv"


def demo_reviews_file() -> Path:
    """A small binary classification set (``review``, ``label``: 1 pleased, 0 unhappy) written for the app."""
    return resources_dir() / "demo" / "studio_desktop_reviews.csv"


def demo_config_file() -> Path:
    """The config that fine-tunes the bundled backbone on the demo dataset."""
    return resources_dir() / "demo" / "demo_config.yaml"
