"""``studio-desktop export NAME --format merged|adapter|gguf [--quant Q]``: write a finished experiment as a
model folder or a verified GGUF file."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio_desktop.cli.output import ProgressLine, print_json
from studio_desktop.core.gguf_formats import QUANTS
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import open_workdir

FORMATS = ("merged", "adapter", "gguf")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``export``."""
    export = commands.add_parser(
        "export",
        help="export a finished experiment as a merged model folder, a LoRA adapter or a GGUF file",
        description="Write a finished experiment with a model card. 'merged' folds the adapter into the "
        "backbone (a Hugging Face folder that loads with plain transformers); 'adapter' writes the peft "
        "adapter only; 'gguf' writes one GGUF file for llama.cpp, Ollama and LM Studio (with a Modelfile), "
        "verified against the merged model before it is reported done. The default folder is "
        "exports/NAME-FORMAT (exports/NAME-QUANT for GGUF) in the working directory.",
    )
    export.add_argument("name", help="experiment name ('studio-desktop experiment list' shows them)")
    export.add_argument(
        "--format", choices=FORMATS, default="merged", help="what to export (default: merged)"
    )
    export.add_argument(
        "--quant",
        choices=tuple(QUANTS),
        default="q8_0",
        help="GGUF storage: "
        + "; ".join(f"{name}: {label}" for name, (_t, _f, label) in QUANTS.items())
        + " (default: q8_0)",
    )
    export.add_argument(
        "--out", type=Path, metavar="DIR", help="folder to write (default: exports/NAME-FORMAT)"
    )
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export in that folder")
    export.add_argument("--json", action="store_true", help="print the result as JSON")
    export.set_defaults(handler=run_export)


def _quiet_transformers() -> None:
    """Keep transformers' warnings and loading bars off the terminal: the progress line says enough."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def run_export(args: argparse.Namespace) -> int:
    from studio_desktop.jobs.exports import export_experiment

    workdir = open_workdir(args.workdir)
    catalog = Catalog(workdir.catalog_path)
    _quiet_transformers()
    folder = export_experiment(
        workdir,
        catalog,
        args.name,
        args.format,
        args.out,
        progress=ProgressLine(),
        overwrite=args.overwrite,
        quant=args.quant,
    )
    if args.json:
        files = sorted(path.name for path in folder.iterdir() if path.is_file())
        print_json({"experiment": args.name, "format": args.format, "folder": str(folder), "files": files})
    else:
        print(f"exported {args.name} ({args.format}) to {folder}")
    return 0
