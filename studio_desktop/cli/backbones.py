"""``studio-desktop backbone list|add|remove``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from studio_desktop.cli.output import ProgressLine, print_json, print_table
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import check_name, open_workdir


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the ``backbone`` command group."""
    group = commands.add_parser("backbone", help="list and add backbones usable offline")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="backbones available offline")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(handler=run_list)
    add = sub.add_parser(
        "add",
        help="register a local model folder, a GGUF file or a hub id under a name",
        description="Check that a backbone loads offline (a GGUF file is converted once, a hub id is "
        "downloaded when online) and register it under a name usable as llm_backbone.",
    )
    add.add_argument("location", help="model folder, .gguf file or hub id (owner/name)")
    add.add_argument("--name", help="short name (default: the folder or file name)")
    add.set_defaults(handler=run_add)
    remove = sub.add_parser("remove", help="forget a registered backbone (its files stay)")
    remove.add_argument("name")
    remove.set_defaults(handler=run_remove)


def run_list(args: argparse.Namespace) -> int:
    from studio_desktop.core.backbones import list_backbones

    workdir = open_workdir(args.workdir)
    catalog = Catalog(workdir.catalog_path)
    found = list_backbones(workdir.models)
    registered = catalog.backbones()
    if args.json:
        print_json(
            {
                "available": [dataclasses.asdict(b) for b in found],
                "registered": [dataclasses.asdict(r) for r in registered],
            }
        )
        return 0
    print_table(
        ("NAME", "KIND", "READY", "SIZE", "LOCATION"),
        [(b.name, b.kind, "yes" if b.ready else "no", _size(b.size_bytes), b.location) for b in found],
    )
    if registered:
        print("\nregistered names:")
        print_table(("NAME", "LOCATION", "ADDED"), [(r.name, r.location, r.added) for r in registered])
    return 0


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.0f} MiB"


def run_add(args: argparse.Namespace) -> int:
    from studio_desktop.core.backbones import resolve_backbone

    workdir = open_workdir(args.workdir)
    catalog = Catalog(workdir.catalog_path)
    location = args.location
    path = Path(location).expanduser()
    if path.exists():
        location = str(path.resolve())
    name = check_name(args.name or (path.stem if path.exists() else location.rsplit("/", 1)[-1]), "backbone")
    progress = ProgressLine()
    resolved = resolve_backbone(location, workdir.models, progress.message)
    catalog.add_backbone(name, location)
    print(f"\nadded {name}: {resolved.kind} at {resolved.folder}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    workdir = open_workdir(args.workdir)
    Catalog(workdir.catalog_path).remove_backbone(args.name)
    print(f"removed {args.name}")
    return 0
