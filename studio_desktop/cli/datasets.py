"""``studio-desktop dataset import|list|show|delete``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from studio_desktop.cli.output import ProgressLine, print_json, print_table
from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import open_workdir

MAPPING_OPTIONS = {
    "format": "data shape: alpaca, sharegpt, messages, prompt_answer, or text: raw text for continued "
    "pretraining (default: detected; .txt and .md files and folders of them are text)",
    "prompt_column": "column with the user prompt; repeat to join several columns",
    "answer_column": "column with the answer; repeat for several labels or targets (classification, "
    "regression)",
    "system_column": "column with the system prompt",
    "id_column": "column with row ids (multi-turn chains)",
    "parent_id_column": "column with the parent row's id (multi-turn chains)",
    "rejected_answer_column": "column with the rejected answer (preference data)",
    "rejected_prompt_column": "column with the question the rejected answer was given to, where it differs "
    "(preference data; blank cells: the prompt column's)",
    "desirability_column": "column rating each answer good (true/1) or bad (false/0): unpaired data for KTO",
    "conversation_column": "column holding whole conversations (sharegpt/messages)",
    "text_column": "column holding raw text, one document per row (format text)",
}


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the ``dataset`` command group."""
    group = commands.add_parser("dataset", help="import, list, show and delete datasets")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    imp = sub.add_parser(
        "import",
        help="import a CSV, Parquet, JSON, JSONL file or a saved datasets folder",
        description="Import a data file. The shape (Alpaca, ShareGPT, messages, prompt/answer, id/parent_id "
        "chains) is detected; any column can be set by hand.",
    )
    imp.add_argument("path", type=Path, help="data file or folder")
    imp.add_argument("--name", help="dataset name (default: from the file name)")
    for option, text in MAPPING_OPTIONS.items():
        flag = "--" + option.replace("_", "-")
        if option in ("prompt_column", "answer_column"):
            imp.add_argument(flag, action="append", help=text)
        else:
            imp.add_argument(flag, help=text)
    imp.add_argument("--validation-file", type=Path, help="use this file for validation instead of a split")
    imp.add_argument(
        "--validation-size", type=float, default=0.1, help="share of conversations held out (default 0.1)"
    )
    imp.add_argument("--backbone", default=BUNDLED_BACKBONE, help="backbone whose tokenizer counts tokens")
    imp.add_argument("--max-length", type=int, default=512, help="token limit for the truncation statistics")
    imp.add_argument(
        "--no-chat-template",
        action="store_true",
        help="format samples with text markers, not the chat template",
    )
    imp.add_argument("--json", action="store_true", help="print the result as JSON")
    imp.set_defaults(handler=run_import)

    lst = sub.add_parser("list", help="list imported datasets")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(handler=run_list)

    show = sub.add_parser("show", help="counts, column mapping, statistics and a formatted sample")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=run_show)

    delete = sub.add_parser("delete", help="delete a dataset (refused while an experiment uses it)")
    delete.add_argument("name")
    delete.set_defaults(handler=run_delete)


def _catalog(args: argparse.Namespace) -> tuple[Any, Catalog]:
    workdir = open_workdir(args.workdir)
    return workdir, Catalog(workdir.catalog_path)


def _mapping_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for option in MAPPING_OPTIONS:
        value = getattr(args, option)
        if not value:
            continue
        if option == "answer_column":
            overrides["answer_column"], *extra = value
            if extra:
                overrides["extra_answer_columns"] = extra
        else:
            overrides["prompt_columns" if option == "prompt_column" else option] = value
    return overrides


def run_import(args: argparse.Namespace) -> int:
    from studio_desktop.core.data.documents import TEXT_FORMAT
    from studio_desktop.core.data.templates import TemplateSettings
    from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset

    workdir, catalog = _catalog(args)
    request = ImportRequest(
        source=args.path,
        name=args.name,
        mapping=_mapping_overrides(args),
        validation_file=args.validation_file,
        validation_size=args.validation_size,
        backbone=args.backbone,
        max_length=args.max_length,
        template=TemplateSettings(use_chat_template=not args.no_chat_template),
    )
    record = import_dataset(workdir, catalog, request, ProgressLine())
    if args.json:
        print_json(dataclasses.asdict(record))
    else:
        unit = "documents" if record.format == TEXT_FORMAT else "conversations"
        print(
            f"imported {record.name}: {record.rows} rows, {record.conversations} {unit} "
            f"({record.train_conversations} train / {record.validation_conversations} validation), "
            f"format {record.format}"
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    _, catalog = _catalog(args)
    records = catalog.datasets()
    if args.json:
        print_json([dataclasses.asdict(r) for r in records])
        return 0
    print_table(
        ("NAME", "FORMAT", "ROWS", "CONVERSATIONS", "TRAIN", "VALIDATION", "CREATED"),
        [
            (
                r.name,
                r.format,
                r.rows,
                r.conversations,
                r.train_conversations,
                r.validation_conversations,
                r.created,
            )
            for r in records
        ],
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    from studio_desktop.core.data.templates import RenderedSample, Segment, format_marked
    from studio_desktop.jobs.datasets import load_meta

    _, catalog = _catalog(args)
    meta = load_meta(catalog.dataset(args.name))
    if args.json:
        print_json(meta)
        return 0
    stats = meta["statistics"]
    print(f"{meta['name']}  ({meta['format']}, from {meta['source']})")
    if stats.get("kind") == "text":  # raw text (core.data.documents.TEXT_FORMAT)
        _show_text(meta, stats)
        return 0
    print(
        f"rows {meta['rows']}, conversations {stats['conversations']}, turns {stats['turns']}, "
        f"train {meta['train_conversations']}, validation {meta['validation_conversations']}"
    )
    mapping = {k: v for k, v in meta["mapping"].items() if v not in (None, [], "")}
    print("mapping: " + ", ".join(f"{k}={v!r}" for k, v in mapping.items()))
    sampled = stats.get("token_samples", stats["conversations"])
    total = stats["conversations"]
    estimate = f", estimated from {sampled} of {total} conversations" if sampled < total else ""
    print(f"tokens ({stats['tokenizer_name']}{estimate}):")
    if stats.get("capped_samples"):
        print(
            f"  {stats['capped_samples']} sample(s) longer than {stats['capped_chars']:,} characters counted "
            "from that prefix (lower bounds)"
        )
    for part in ("prompt_tokens", "answer_tokens", "total_tokens"):
        s = stats[part]
        print(
            f"  {part.split('_')[0]:<7} min {s['min']:>5}  median {s['median']:>7.1f}  "
            f"mean {s['mean']:>7.1f}  "
            f"p95 {s['p95']:>7.1f}  max {s['max']:>5}"
        )
    print(f"truncated at {stats['max_length']} tokens: {stats['truncated_share'] * 100:.1f}% of samples")
    segments = tuple(Segment(text=s["text"], trained=s["trained"]) for s in meta["sample"])
    print("sample (trained spans in [[ ]]):")
    print(format_marked(RenderedSample(text="".join(s.text for s in segments), segments=segments)))
    return 0


def _show_text(meta: dict[str, Any], stats: dict[str, Any]) -> None:
    """``dataset show`` of raw text: documents, tokens and blocks, the start of the first document."""
    print(
        f"documents {stats['documents']} (train {meta['train_conversations']}, validation "
        f"{meta['validation_conversations']}; {meta.get('skipped_blank', 0)} blank left out), "
        f"characters {stats['characters']:,}"
    )
    how = f"estimated from {stats['token_samples']} documents" if stats["estimated"] else "counted"
    print(
        f"tokens ({stats['tokenizer_name']}, {how}): {stats['tokens']:,}, about {stats['blocks']:,} "
        f"blocks of {stats['max_length']} tokens"
    )
    s = stats["document_tokens"]
    print(f"  per document: min {s['min']}  median {s['median']:.1f}  p95 {s['p95']:.1f}  max {s['max']}")
    print("start of the first document:")
    print(meta["sample"][0]["text"][:600])


def run_delete(args: argparse.Namespace) -> int:
    from studio_desktop.jobs.datasets import delete_dataset

    _, catalog = _catalog(args)
    delete_dataset(catalog, args.name)
    print(f"deleted {args.name}")
    return 0
