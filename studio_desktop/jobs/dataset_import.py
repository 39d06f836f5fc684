"""Import a data file: read, map to conversations, split, compute statistics, store and register.

Everything is written into a hidden folder first and moved into place at the end, so a failed import
leaves nothing behind. The tokenizer is loaded once and every conversation is tokenized once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.core.backbones import load_tokenizer, resolve_backbone
from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.formats import ColumnMapping, guess_mapping, to_conversations, validate_mapping
from studio_desktop.core.data.io import read_table
from studio_desktop.core.data.split import split_train_validation
from studio_desktop.core.data.stats import compute_statistics
from studio_desktop.core.data.store import write_conversations
from studio_desktop.core.data.templates import TemplateSettings, render_sample
from studio_desktop.core.errors import CatalogError, DataError
from studio_desktop.jobs.catalog import Catalog, DatasetRecord, now_iso
from studio_desktop.jobs.datasets import META_FILE, TRAIN_FILE, VALIDATION_FILE
from studio_desktop.jobs.workdir import Workdir, check_name

Progress = Callable[[str, float], None]
TEMP_PREFIX = ".importing-"


@dataclass(frozen=True)
class ImportRequest:
    """What to import and how. ``mapping`` holds hand-set column mapping fields over the detected ones."""

    source: Path
    name: str | None = None
    mapping: dict[str, Any] = field(default_factory=dict)
    validation_file: Path | None = None
    validation_size: float = 0.1
    seed: int = 1337
    backbone: str = BUNDLED_BACKBONE
    max_length: int = 512
    template: TemplateSettings = field(default_factory=TemplateSettings)


def _silent(_stage: str, _fraction: float) -> None:
    """Progress sink that drops every report."""


def choose_mapping(df: Any, overrides: dict[str, Any], file: Path) -> ColumnMapping:
    """The detected mapping with hand-set fields on top; hand-set fields alone when nothing is detected."""
    try:
        detected = guess_mapping(df, file).to_dict()
    except DataError:
        if not overrides:
            raise
        detected = {"format": "prompt_answer"}
    mapping = ColumnMapping.from_dict({**detected, **overrides})
    validate_mapping(df, mapping, file)
    return mapping


def read_conversations_from(
    path: Path, overrides: dict[str, Any]
) -> tuple[int, ColumnMapping, list[Conversation]]:
    """Rows, mapping and conversations of one data file."""
    df = read_table(path)
    mapping = choose_mapping(df, overrides, path)
    return len(df), mapping, to_conversations(df, mapping, path)


def pick_name(request: ImportRequest, catalog: Catalog) -> str:
    """The requested name (must be new) or one derived from the file name."""
    if request.name:
        check_name(request.name, "dataset")
        if catalog.has_dataset(request.name):
            raise CatalogError(f"a dataset named {request.name!r} already exists; pick another --name.")
        return request.name
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in request.source.stem).strip("-._")
    base = check_name(stem or "dataset", "dataset")
    name, number = base, 2
    while catalog.has_dataset(name):
        name, number = f"{base}-{number}", number + 1
    return name


def remove_stale_imports(workdir: Workdir) -> None:
    """Delete leftovers of imports whose process died (the folder name carries the pid)."""
    for folder in workdir.datasets.glob(f"{TEMP_PREFIX}*"):
        pid = folder.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def import_dataset(
    workdir: Workdir, catalog: Catalog, request: ImportRequest, progress: Progress | None = None
) -> DatasetRecord:
    """Run the whole import and return the registered dataset."""
    report = progress or _silent
    remove_stale_imports(workdir)
    name = pick_name(request, catalog)
    source = request.source.expanduser().resolve()
    report("Reading data", 0.05)
    rows, mapping, conversations = read_conversations_from(source, request.mapping)
    report("Splitting", 0.3)
    train, validation = _split(conversations, request, mapping)
    report("Loading tokenizer", 0.4)
    backbone = resolve_backbone(catalog.backbone_location(request.backbone), workdir.models)
    tokenizer = load_tokenizer(backbone.folder)
    report("Computing statistics", 0.5)
    stats = compute_statistics(train + validation, tokenizer, request.template, request.max_length)
    sample = render_sample(tokenizer, train[0], request.template)
    report("Writing", 0.85)
    meta = {
        "name": name,
        "source": str(source),
        "format": mapping.format.value,
        "mapping": mapping.to_dict(),
        "rows": rows,
        "train_conversations": len(train),
        "validation_conversations": len(validation),
        "validation": str(request.validation_file) if request.validation_file else request.validation_size,
        "backbone": request.backbone,
        "template": dataclasses.asdict(request.template),
        "statistics": stats.to_dict(),
        "sample": [{"text": s.text, "trained": s.trained} for s in sample.segments],
        "created": now_iso(),
    }
    record = DatasetRecord(
        name=name,
        path=str(workdir.dataset_dir(name)),
        format=mapping.format.value,
        source=str(source),
        rows=rows,
        conversations=len(train) + len(validation),
        train_conversations=len(train),
        validation_conversations=len(validation),
        created=meta["created"],
    )
    _store(workdir, catalog, record, meta=meta, train=train, validation=validation, source=source)
    report("Done", 1.0)
    return record


def _split(
    conversations: list[Conversation], request: ImportRequest, mapping: ColumnMapping
) -> tuple[list[Conversation], list[Conversation]]:
    if request.validation_file is None:
        return split_train_validation(conversations, request.validation_size, request.seed)
    overrides = {**mapping.to_dict(), **request.mapping}
    validation_path = request.validation_file.expanduser().resolve()
    _, _, validation = read_conversations_from(validation_path, overrides)
    return conversations, validation


def _store(
    workdir: Workdir,
    catalog: Catalog,
    record: DatasetRecord,
    *,
    meta: dict[str, Any],
    train: list[Conversation],
    validation: list[Conversation],
    source: Path,
) -> None:
    """Write into a temporary folder, move it into place, then register; undo on any failure."""
    final = Path(record.path)
    temp = workdir.datasets / f"{TEMP_PREFIX}{os.getpid()}-{record.name}"
    try:
        temp.mkdir(parents=True)
        write_conversations(train, temp / TRAIN_FILE)
        write_conversations(validation, temp / VALIDATION_FILE)
        (temp / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
        copy_source(source, temp / "source")
        if final.exists():
            raise CatalogError(f"{final} already exists; remove it or import under another --name.")
        temp.rename(final)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    try:
        catalog.add_dataset(record)
    except Exception:
        shutil.rmtree(final, ignore_errors=True)
        raise


def copy_source(source: Path, target: Path) -> None:
    """Keep the original file (or dataset folder) beside the converted data."""
    target.mkdir()
    if source.is_dir():
        shutil.copytree(source, target / source.name)
    else:
        shutil.copy2(source, target / source.name)
