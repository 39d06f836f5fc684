"""Reading and deleting imported datasets. Light on imports: the GUI uses it too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio_desktop.jobs.catalog import Catalog, DatasetRecord
from studio_desktop.jobs.workdir import delete_folder

META_FILE = "meta.json"
TRAIN_FILE = "train.parquet"
VALIDATION_FILE = "validation.parquet"
DEMO_DATASET_NAME = "studio-desktop-demo"
DEMO_DONE_KEY = "demo_dataset_registered"


def load_meta(record: DatasetRecord) -> dict[str, Any]:
    """The metadata written at import: mapping, counts, statistics and a rendered sample."""
    return json.loads((Path(record.path) / META_FILE).read_text(encoding="utf-8"))


def split_files(record: DatasetRecord) -> dict[str, Path]:
    """The Parquet file of each split."""
    folder = Path(record.path)
    return {"train": folder / TRAIN_FILE, "validation": folder / VALIDATION_FILE}


def delete_dataset(catalog: Catalog, name: str) -> None:
    """Unregister a dataset (refused while an experiment uses it) and delete its folder."""
    record = catalog.dataset(name)
    folder = catalog.inside(record.path)
    delete_folder(folder, lambda: catalog.remove_dataset(name))
