"""``repair``: keep a damaged catalogue aside and register every dataset and experiment folder again.

Each dataset folder holds its ``meta.json`` and each experiment folder its config: enough to list them.
Folders already registered are left as they are; folders that cannot be read are reported, not changed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from studio_desktop.core.config_io import load_config
from studio_desktop.core.errors import CatalogDamagedError, StudioError
from studio_desktop.core.events import EventReader
from studio_desktop.jobs.catalog import Catalog, DatasetRecord, ExperimentRecord
from studio_desktop.jobs.datasets import META_FILE
from studio_desktop.jobs.experiment import Experiment
from studio_desktop.jobs.workdir import Workdir

DAMAGED_SUFFIXES = ("", "-wal", "-shm")


@dataclass
class RepairReport:
    """What ``repair_catalog`` did."""

    kept_aside: Path | None = None
    datasets: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "folder: why"

    def lines(self) -> list[str]:
        """The report as lines for a terminal or a dialog."""
        lines = [f"kept the damaged catalogue as {self.kept_aside}"] if self.kept_aside else []
        lines.append(f"registered {len(self.datasets)} dataset(s): {', '.join(self.datasets) or 'none'}")
        lines.append(
            f"registered {len(self.experiments)} experiment(s): {', '.join(self.experiments) or 'none'}"
        )
        lines += [f"skipped {entry}" for entry in self.skipped]
        return lines


def open_or_keep_aside(workdir: Workdir, report: RepairReport) -> Catalog:
    """The catalogue; a damaged one (and its journal files) is renamed aside first and a new one made."""
    try:
        return Catalog(workdir.catalog_path)
    except CatalogDamagedError:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        report.kept_aside = workdir.catalog_path.with_name(f"{workdir.catalog_path.name}.damaged-{stamp}")
        for suffix in DAMAGED_SUFFIXES:
            part = workdir.catalog_path.with_name(workdir.catalog_path.name + suffix)
            if part.exists():
                part.rename(report.kept_aside.with_name(report.kept_aside.name + suffix))
        return Catalog(workdir.catalog_path)


def repair_catalog(workdir: Workdir) -> RepairReport:
    """Make the catalogue readable and list every dataset and experiment folder in it."""
    report = RepairReport()
    adopt_orphans(workdir, open_or_keep_aside(workdir, report), report)
    return report


def adopt_orphans(workdir: Workdir, catalog: Catalog, report: RepairReport | None = None) -> RepairReport:
    """Register the complete folders the catalogue does not list (an import or a new experiment killed
    after its folder was in place but before its catalogue row): the half-done operation is finished."""
    report = report or RepairReport()
    datasets = {record.name for record in catalog.datasets()}
    for folder in _entries(workdir.datasets):
        if folder.name not in datasets:
            _register(report, report.datasets, folder, lambda f: catalog.add_dataset(_dataset_record(f)))
    experiments = {record.name for record in catalog.experiments()}
    for folder in _entries(workdir.experiments):
        if folder.name not in experiments:
            _register(
                report,
                report.experiments,
                folder,
                lambda f: catalog.add_experiment(_experiment_record(f, catalog)),
            )
    return report


def _entries(parent: Path) -> list[Path]:
    """The folders of a layout folder, leaving out hidden ones (imports in progress)."""
    if not parent.is_dir():
        return []
    return sorted(
        p for p in parent.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )


def _register(report: RepairReport, names: list[str], folder: Path, add: Callable[[Path], None]) -> None:
    try:
        add(folder)
    except (OSError, ValueError, KeyError, TypeError, StudioError, sqlite3.Error) as error:
        report.skipped.append(f"{folder}: {error}")
        return
    names.append(folder.name)


def _dataset_record(folder: Path) -> DatasetRecord:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    if meta.get("name") != folder.name:
        raise ValueError(f"its {META_FILE} names {meta.get('name')!r}")
    train, validation = int(meta["train_conversations"]), int(meta["validation_conversations"])
    return DatasetRecord(
        name=folder.name,
        path=str(folder),
        format=str(meta["format"]),
        source=str(meta["source"]),
        rows=int(meta["rows"]),
        conversations=train + validation,
        train_conversations=train,
        validation_conversations=validation,
        created=str(meta["created"]),
    )


def _experiment_record(folder: Path, catalog: Catalog) -> ExperimentRecord:
    experiment = Experiment(folder)
    cfg = load_config(experiment.config_path).config
    if cfg.experiment_name != folder.name:
        raise ValueError(f"its {experiment.config_path.name} names {cfg.experiment_name!r}")
    return ExperimentRecord(
        name=folder.name,
        path=str(folder),
        dataset=cfg.dataset.train_dataframe if catalog.has_dataset(cfg.dataset.train_dataframe) else None,
        problem_type=cfg.problem_type,
        backbone=cfg.llm_backbone,
        created=_created(folder),
    )


def _created(folder: Path) -> str:
    """When the experiment began: its first event, else the config file's time."""
    experiment = Experiment(folder)
    first = EventReader(experiment.events_path).read_new(limit=4096)
    stamp = first[0].time if first else experiment.config_path.stat().st_mtime
    return datetime.fromtimestamp(stamp, timezone.utc).replace(microsecond=0).isoformat()
