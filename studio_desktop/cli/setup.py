"""``studio-desktop init`` and ``repair``: prepare the working directory, rebuild its catalogue; crash
logs."""

from __future__ import annotations

import argparse
import tempfile
from datetime import datetime
from pathlib import Path

from studio_desktop.cli.output import ProgressLine
from studio_desktop.jobs.workdir import open_workdir, resolve_root


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``init`` and ``repair``."""
    init = commands.add_parser(
        "init",
        help="prepare the working directory: bundled backbone and demo dataset",
        description="Create the working directory, convert the bundled backbone once and import the demo "
        "dataset (once: a demo dataset you deleted stays deleted).",
    )
    init.set_defaults(handler=run_init)
    repair = commands.add_parser(
        "repair",
        help="rebuild a damaged catalogue from the dataset and experiment folders",
        description="Keep a damaged catalog.sqlite aside (renamed, never deleted) and register every "
        "dataset and experiment folder of the working directory that the catalogue does not list; says what "
        "it found.",
    )
    repair.set_defaults(handler=run_repair)


def run_repair(args: argparse.Namespace) -> int:
    from studio_desktop.jobs.repair import repair_catalog

    report = repair_catalog(open_workdir(args.workdir))
    for line in report.lines():
        print(line)
    return 1 if report.skipped else 0


def run_init(args: argparse.Namespace) -> int:
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.first_run import prepare_workdir

    workdir = open_workdir(args.workdir)
    catalog = Catalog(workdir.catalog_path)
    for line in prepare_workdir(workdir, catalog, ProgressLine()):
        print(line)
    print(f"working directory: {workdir.root}")
    return 0


def write_crash_log(workdir_override: str | None, details: str) -> Path:
    """Append details of an unexpected error to the working directory's log folder (or the temp folder)."""
    entry = f"--- {datetime.now().isoformat(timespec='seconds')}\n{details}\n"
    try:
        logs = resolve_root(workdir_override) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / "cli-errors.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(entry)
    except OSError:  # a read-only or full working directory: the temp folder instead
        path = Path(tempfile.gettempdir()) / "studio-desktop-cli-errors.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(entry)
    return path
