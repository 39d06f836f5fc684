"""Import a data file: read, map to conversations, split, compute statistics, store and register.

Everything is written into a hidden folder first and moved into place at the end, so a failed import
leaves nothing behind. The conversations travel as one Arrow table (the stored layout) from the file to the
Parquet files; token statistics are estimated from a random sample of ``STATISTICS_SAMPLE`` conversations,
with the tokenizer loaded without transformers where the backbone's tokenizer allows it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import stat
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.core.backbones import load_tokenizer, resolve_backbone
from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.documents import (
    TEXT_FORMAT,
    Documents,
    is_text_source,
    read_text_column,
    read_text_files,
    split_documents,
    write_documents,
)
from studio_desktop.core.data.formats import (
    ColumnMapping,
    to_conversation_table,
    to_conversations,
    validate_mapping,
)
from studio_desktop.core.data.io import read_table
from studio_desktop.core.data.mapping_guess import guess_mapping
from studio_desktop.core.data.split import split_table
from studio_desktop.core.data.stats import (
    STATISTICS_SAMPLE,
    DatasetStatistics,
    sample_indices,
    statistics_of_sample,
)
from studio_desktop.core.data.store import table_conversations, table_turns, write_table
from studio_desktop.core.data.templates import TemplateSettings, render_sample
from studio_desktop.core.data.text_stats import text_statistics
from studio_desktop.core.errors import CatalogError, ConfigError, DataError
from studio_desktop.core.files import pid_alive
from studio_desktop.core.light_tokenizer import load_light_tokenizer
from studio_desktop.jobs.catalog import Catalog, DatasetRecord, now_iso
from studio_desktop.jobs.datasets import META_FILE, TRAIN_FILE, VALIDATION_FILE
from studio_desktop.jobs.workdir import Workdir, check_name

if TYPE_CHECKING:
    import pyarrow as pa

Progress = Callable[[str, float], None]
TEMP_PREFIX = ".importing-"
NAME_FROM_FILE_LENGTH = 90  # room for a "-N" suffix within the 100 characters of a name
VALIDATION_SHARE = (0.01, 0.95)  # as dataset.validation_size
MAX_LENGTH_RANGE = (32, 131072)  # as tokenizer.max_length
COPY_CHUNK = 1 << 20
SAMPLE_TEXT_CHARS = 4000  # of the first document, shown as the sample of a raw-text dataset


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

    def __post_init__(self) -> None:
        """Refuse a split share or a token limit that cannot work, before any file is read."""
        low, high = VALIDATION_SHARE
        share = self.validation_size
        if self.validation_file is None and not (math.isfinite(share) and low <= share <= high):
            raise ConfigError(
                f"a validation share (--validation-size) of {share} is not allowed: give the share of "
                f"conversations held out for validation, from {low} to {high} (e.g. 0.1), or a validation "
                "file."
            )
        if not MAX_LENGTH_RANGE[0] <= self.max_length <= MAX_LENGTH_RANGE[1]:
            raise ConfigError(
                f"a token limit (--max-length) of {self.max_length} is not allowed: give the longest sample "
                f"in tokens, from {MAX_LENGTH_RANGE[0]} to {MAX_LENGTH_RANGE[1]} (e.g. 512)."
            )


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


def read_table_from(path: Path, overrides: dict[str, Any]) -> tuple[int, ColumnMapping, pa.Table]:
    """Rows, mapping and conversations (as a table in the stored layout) of one data file."""
    df = read_table(path)
    mapping = choose_mapping(df, overrides, path)
    return len(df), mapping, to_conversation_table(df, mapping, path)


def pick_name(request: ImportRequest, catalog: Catalog) -> str:
    """The requested name (must be new) or one derived from the file name."""
    if request.name:
        check_name(request.name, "dataset")
        if catalog.has_dataset(request.name):
            raise CatalogError(f"a dataset named {request.name!r} already exists; pick another --name.")
        return request.name
    base = check_name(name_from_file(request.source), "dataset")
    name, number = base, 2
    while catalog.has_dataset(name):
        name, number = f"{base}-{number}", number + 1
    return name


def name_from_file(path: Path) -> str:
    """A valid dataset name made of a file name: accents dropped, other characters as '-', shortened."""
    ascii_stem = unicodedata.normalize("NFKD", path.stem).encode("ascii", "ignore").decode("ascii")
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in ascii_stem)
    return stem[:NAME_FROM_FILE_LENGTH].strip("-._") or "dataset"


def remove_stale_imports(workdir: Workdir) -> None:
    """Delete leftovers of imports whose process died (the folder name carries the pid)."""
    for folder in workdir.datasets.glob(f"{TEMP_PREFIX}*"):
        pid = folder.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def import_dataset(
    workdir: Workdir, catalog: Catalog, request: ImportRequest, progress: Progress | None = None
) -> DatasetRecord:
    """Run the whole import and return the registered dataset."""
    from studio_desktop.jobs.repair import adopt_orphans

    report = progress or _silent
    remove_stale_imports(workdir)
    adopt_orphans(workdir, catalog)  # an import killed before its catalogue row: finished now
    name = pick_name(request, catalog)
    source = request.source.expanduser().resolve()
    if is_text_import(source, request.mapping):
        return _import_documents(workdir, catalog, request, name=name, source=source, report=report)
    report("Reading data", 0.05)
    rows, mapping, table = read_table_from(source, request.mapping)
    size = plain_size(source)  # what was read is what is kept: a source that grows is not followed
    report("Splitting", 0.3)
    train, validation = _split(table, request, mapping)
    report("Loading tokenizer", 0.4)
    backbone = resolve_backbone(catalog.backbone_location(request.backbone), workdir.models)
    tokenizer = load_light_tokenizer(backbone.folder) or load_tokenizer(backbone.folder)
    everything = table if request.validation_file is None else _concat(train, validation)
    record = DatasetRecord(
        name=name,
        path=str(workdir.dataset_dir(name)),
        format=mapping.format.value,
        source=str(source),
        rows=rows,
        conversations=train.num_rows + validation.num_rows,
        train_conversations=train.num_rows,
        validation_conversations=validation.num_rows,
        created=now_iso(),
    )
    final = Path(record.path)
    temp = workdir.datasets / f"{TEMP_PREFIX}{os.getpid()}-{name}"
    try:
        temp.mkdir(parents=True)
        # Parquet writing and tokenizing release the GIL: the files are written while the statistics run.
        with ThreadPoolExecutor(max_workers=1) as pool:
            writing = pool.submit(_write_data, temp, train, validation, source, size)
            report("Computing statistics", 0.5)
            stats = _statistics(everything, tokenizer, request)
            sample = render_sample(tokenizer, table_conversations(train.slice(0, 1))[0], request.template)
            report("Writing", 0.85)
            writing.result()
        meta = {
            "name": name,
            "source": str(source),
            "format": mapping.format.value,
            "mapping": mapping.to_dict(),
            "rows": rows,
            "train_conversations": record.train_conversations,
            "validation_conversations": record.validation_conversations,
            "validation": str(request.validation_file)
            if request.validation_file
            else request.validation_size,
            "backbone": request.backbone,
            "template": dataclasses.asdict(request.template),
            "statistics": stats.to_dict(),
            "sample": [{"text": s.text, "trained": s.trained} for s in sample.segments],
            "created": record.created,
        }
        _move_into_place(temp, final, meta)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    _register(catalog, record, final)
    report("Done", 1.0)
    return record


def _move_into_place(temp: Path, final: Path, meta: dict[str, Any]) -> None:
    """Write the metadata into the finished hidden folder and rename it to the dataset's folder."""
    (temp / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    if final.exists():
        raise CatalogError(f"{final} already exists; remove it or import under another --name.")
    temp.rename(final)


def _register(catalog: Catalog, record: DatasetRecord, final: Path) -> None:
    """Add the dataset to the catalogue last; its folder goes again when that fails."""
    try:
        catalog.add_dataset(record)
    except Exception:
        shutil.rmtree(final, ignore_errors=True)
        raise


def is_text_import(source: Path, mapping: dict[str, Any]) -> bool:
    """Whether the import is raw text: ``.txt``/``.md`` files (or a folder of them), or ``format: text``."""
    return mapping.get("format") == TEXT_FORMAT or is_text_source(source)


def read_documents_from(path: Path, mapping: dict[str, Any]) -> Documents:
    """The documents of text files, or of a table's text column (``text_column``, guessed when unset)."""
    if is_text_source(path):
        return read_text_files(path)
    return read_text_column(read_table(path), mapping.get("text_column"), path)


def _import_documents(
    workdir: Workdir, catalog: Catalog, request: ImportRequest, *, name: str, source: Path, report: Progress
) -> DatasetRecord:
    """Import raw text for continued pretraining: documents split, counted and stored like conversations."""
    unknown = sorted(set(request.mapping) - {"format", "text_column"})
    if unknown:
        raise ConfigError(
            f"raw text takes only a text column; {', '.join(unknown)} do not apply to it ({source.name})."
        )
    report("Reading text", 0.05)
    read = read_documents_from(source, request.mapping)
    if request.validation_file is None:
        train, validation = split_documents(read.documents, request.validation_size, request.seed, source)
    else:
        validation_path = request.validation_file.expanduser().resolve()
        train, validation = read.documents, read_documents_from(validation_path, request.mapping).documents
    size = plain_size(source)
    report("Loading tokenizer", 0.3)
    backbone = resolve_backbone(catalog.backbone_location(request.backbone), workdir.models)
    tokenizer = load_light_tokenizer(backbone.folder) or load_tokenizer(backbone.folder)
    report("Counting tokens", 0.5)
    stats = text_statistics(train + validation, tokenizer, request.max_length, seed=request.seed)
    record = DatasetRecord(
        name=name,
        path=str(workdir.dataset_dir(name)),
        format=TEXT_FORMAT,
        source=str(source),
        rows=len(read.documents) + read.skipped_blank,
        conversations=len(train) + len(validation),
        train_conversations=len(train),
        validation_conversations=len(validation),
        created=now_iso(),
    )
    final = Path(record.path)
    temp = workdir.datasets / f"{TEMP_PREFIX}{os.getpid()}-{name}"
    try:
        temp.mkdir(parents=True)
        report("Writing", 0.8)
        write_documents(train, temp / TRAIN_FILE)
        write_documents(validation, temp / VALIDATION_FILE)
        copy_source(source, temp / "source", size)
        meta = {
            "name": name,
            "kind": TEXT_FORMAT,
            "source": str(source),
            "format": TEXT_FORMAT,
            "mapping": {"format": TEXT_FORMAT, "text_column": request.mapping.get("text_column")},
            "rows": record.rows,
            "skipped_blank": read.skipped_blank,
            "train_conversations": len(train),
            "validation_conversations": len(validation),
            "validation": _validation_setting(request),
            "backbone": request.backbone,
            "statistics": stats.to_dict(),
            "sample": [{"text": train[0].text[:SAMPLE_TEXT_CHARS], "trained": True}],
            "created": record.created,
        }
        _move_into_place(temp, final, meta)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    _register(catalog, record, final)
    report("Done", 1.0)
    return record


def _validation_setting(request: ImportRequest) -> str | float:
    return str(request.validation_file) if request.validation_file else request.validation_size


def _split(table: pa.Table, request: ImportRequest, mapping: ColumnMapping) -> tuple[pa.Table, pa.Table]:
    if request.validation_file is None:
        return split_table(table, request.validation_size, request.seed)
    overrides = {**mapping.to_dict(), **request.mapping}
    validation_path = request.validation_file.expanduser().resolve()
    _, _, validation = read_table_from(validation_path, overrides)
    return table, validation


def _concat(train: pa.Table, validation: pa.Table) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables([train, validation]).combine_chunks()


def _statistics(table: pa.Table, tokenizer: Any, request: ImportRequest) -> DatasetStatistics:
    """Turns of every conversation; token lengths of a random sample of them."""
    import pyarrow as pa

    chosen = sample_indices(table.num_rows, STATISTICS_SAMPLE, request.seed)
    sample = table_conversations(table if chosen is None else table.take(pa.array(chosen, type=pa.int64())))
    return statistics_of_sample(
        table_turns(table), sample, tokenizer, request.template, max_length=request.max_length
    )


def _write_data(folder: Path, train: pa.Table, validation: pa.Table, source: Path, size: int) -> None:
    write_table(train, folder / TRAIN_FILE)
    write_table(validation, folder / VALIDATION_FILE)
    copy_source(source, folder / "source", size)


def plain_size(source: Path) -> int:
    """Bytes in the plain files of ``source`` (a file, or a folder walked without following links)."""
    if not source.is_dir():
        return source.stat().st_size
    total = 0
    for folder, names, files in os.walk(source):
        names[:] = [name for name in names if not os.path.islink(os.path.join(folder, name))]
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def copy_source(source: Path, target: Path, limit: int | None = None) -> None:
    """Keep the original file (or dataset folder) beside the converted data. Of a folder only its plain
    files and folders are copied: links are never followed (a link to ``/`` or ``..`` would copy the disk)
    and devices or pipes never read. At most ``limit`` bytes are copied (default: the size now), each file
    as long as it was when its copy began: a source that grows while it is copied is refused, not followed.
    """
    allowed = plain_size(source) if limit is None else limit
    budget = [allowed]

    def copy_bounded(src: str, dst: str) -> None:
        size = os.stat(src).st_size
        if size > budget[0]:
            raise DataError(
                f"the data grew while it was imported (over the {allowed:,} bytes it had when it was "
                "read); import it again once nothing writes to it",
                file=source,
            )
        budget[0] -= size
        with open(src, "rb") as reader, open(dst, "wb") as writer:
            left = size
            while left and (chunk := reader.read(min(COPY_CHUNK, left))):
                writer.write(chunk)
                left -= len(chunk)
        shutil.copystat(src, dst)

    target.mkdir()
    if source.is_dir():
        shutil.copytree(source, target / source.name, ignore=_not_plain, copy_function=copy_bounded)
    else:
        copy_bounded(str(source), str(target / source.name))


def _not_plain(folder: str, names: list[str]) -> list[str]:
    """The entries of ``folder`` that are neither a plain file nor a plain folder."""
    kept = []
    for name in names:
        mode = os.lstat(os.path.join(folder, name)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            kept.append(name)
    return kept
