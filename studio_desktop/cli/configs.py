"""``studio-desktop config validate|defaults``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio_desktop.cli.output import print_json
from studio_desktop.core.config import PROBLEM_TYPES, default_config, describe_fields
from studio_desktop.core.config_io import (
    apply_overrides,
    config_to_dict,
    dump_config,
    load_config,
    save_config,
)
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.devices import planned_precision
from studio_desktop.jobs.memory import MemoryPlanner
from studio_desktop.jobs.workdir import open_workdir


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the ``config`` command group."""
    group = commands.add_parser("config", help="check configs and show the defaults with their help")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    validate = sub.add_parser(
        "validate",
        help="check a YAML config (H2O LLM Studio cfg.yaml files load too)",
        description="Load a config, apply overrides and report ignored keys and the first bad value.",
    )
    validate.add_argument("file", type=Path)
    validate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override"
    )
    validate.add_argument("--out", type=Path, help="also write the normalised config here")
    validate.set_defaults(handler=run_validate)
    defaults = sub.add_parser("defaults", help="print the default config, or every setting with its help")
    defaults.add_argument("--problem-type", choices=PROBLEM_TYPES, default=PROBLEM_TYPES[0])
    defaults.add_argument("--describe", action="store_true", help="list every setting with help and range")
    defaults.add_argument("--json", action="store_true", help="print JSON")
    defaults.set_defaults(handler=run_defaults)


def run_validate(args: argparse.Namespace) -> int:
    loaded = load_config(args.file)
    for warning in loaded.warnings:
        print(f"warning: {args.file}: {warning}", file=sys.stderr)
    cfg = apply_overrides(loaded.config, args.overrides)
    precision = planned_precision(cfg)
    for warning in precision.warnings if precision else ():
        print(f"warning: {warning}", file=sys.stderr)
    workdir = open_workdir(args.workdir)
    planned = MemoryPlanner(workdir, Catalog(workdir.catalog_path)).plan(cfg)
    if planned is not None:
        memory, device = planned
        print(f"memory on {device.label}: {memory.describe()}")
    if args.out:
        save_config(cfg, args.out)
    print(f"{args.file}: valid {cfg.problem_type} config ({len(loaded.warnings)} setting(s) ignored)")
    return 0


def run_defaults(args: argparse.Namespace) -> int:
    if args.describe:
        infos = describe_fields(args.problem_type)
        if args.json:
            print_json([info.__dict__ for info in infos])
            return 0
        for info in infos:
            print(f"{info.path} = {info.default!r}\n    {info.help} ({info.allowed()})")
        return 0
    cfg = default_config(args.problem_type)
    if args.json:
        print_json(config_to_dict(cfg))
    else:
        sys.stdout.write(dump_config(cfg))
    return 0
