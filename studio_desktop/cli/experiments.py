"""``studio-desktop train`` and ``experiment list|show|stop|delete|rename``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from studio_desktop.cli.output import print_json, print_table
from studio_desktop.core.events import Failed
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment
from studio_desktop.jobs.run_state import RunTracker
from studio_desktop.jobs.workdir import open_workdir


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``train`` and the ``experiment`` group."""
    train = commands.add_parser(
        "train",
        help="create an experiment from a config and train it (or --resume one)",
        description="Create an experiment from a YAML config, start its training worker and follow it. "
        "Exit code: 0 finished, 1 failed, 2 stopped. Ctrl+C stops with a checkpoint.",
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="YAML config (H2O LLM Studio cfg.yaml files work too)")
    source.add_argument("--resume", metavar="NAME", help="continue an experiment from its last checkpoint")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    train.add_argument("--detach", action="store_true", help="start the worker and return at once")
    train.set_defaults(handler=run_train)

    group = commands.add_parser("experiment", help="list, show, stop, delete and rename experiments")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="experiments with their status")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(handler=run_list)
    show = sub.add_parser("show", help="status, progress, metrics and files of an experiment")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=run_show)
    stop = sub.add_parser("stop", help="ask a running experiment to save a checkpoint and stop")
    stop.add_argument("name")
    stop.set_defaults(handler=run_stop)
    delete = sub.add_parser("delete", help="delete an experiment that is not running, with its files")
    delete.add_argument("name")
    delete.set_defaults(handler=run_delete)
    rename = sub.add_parser("rename", help="rename an experiment that is not running")
    rename.add_argument("name")
    rename.add_argument("new_name")
    rename.set_defaults(handler=run_rename)


def run_train(args: argparse.Namespace) -> int:
    import sys

    from studio_desktop.cli.follow import Follower
    from studio_desktop.core.config_io import apply_overrides, load_config
    from studio_desktop.jobs.experiment import ACTIVE_STATUSES, create_experiment, open_experiment
    from studio_desktop.jobs.launcher import start_training_worker
    from studio_desktop.jobs.run_lock import already_running

    workdir = open_workdir(args.workdir)
    catalog = Catalog(workdir.catalog_path)
    if args.resume:
        experiment = open_experiment(catalog, args.resume)
        if experiment.status() in ACTIVE_STATUSES:
            record = experiment.worker_record() or {}
            raise already_running(args.resume, record.get("pid"))
        experiment.stop_path.unlink(missing_ok=True)
    else:
        loaded = load_config(args.config)
        for warning in loaded.warnings:
            print(f"warning: {args.config}: {warning}", file=sys.stderr)
        experiment = create_experiment(workdir, catalog, apply_overrides(loaded.config, args.overrides))
        print(f"experiment {experiment.name}: {experiment.path}")
    events = experiment.events_path
    earlier = events.stat().st_size if events.exists() else 0  # a resumed run's earlier events
    process = start_training_worker(workdir.root, experiment.path, resume=bool(args.resume))
    if args.detach:
        print(f"started worker {process.pid}; follow with: studio-desktop experiment show {experiment.name}")
        return 0
    return Follower(experiment, process, since=earlier).run()


def summarize(experiment: Experiment) -> dict[str, object]:
    """Status and the latest progress and metrics of an experiment, from its event file."""
    tracker = RunTracker(experiment)
    events = tracker.poll()
    state = tracker.state
    return {
        "status": experiment.status(events),
        "step": state.progress.step if state.progress else 0,
        "total_steps": state.progress.total_steps if state.progress else 0,
        "eta_seconds": state.progress.eta_seconds if state.progress else None,
        "metrics": {name: series.values[-1] for name, series in state.series.items()},
        "error": state.final.message if isinstance(state.final, Failed) else None,
        "unreadable_event_lines": tracker.reader.skipped,  # garbage or events of the wrong shape, skipped
    }


def run_list(args: argparse.Namespace) -> int:
    catalog = Catalog(open_workdir(args.workdir).catalog_path)
    rows = []
    for record in catalog.experiments():
        info = summarize(Experiment(Path(record.path)))
        rows.append({**dataclasses.asdict(record), **info})
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ("NAME", "STATUS", "STEP", "LOSS", "VAL LOSS", "DATASET", "CREATED"),
        [
            (
                r["name"],
                r["status"],
                f"{r['step']}/{r['total_steps']}",
                _number(r["metrics"].get("train/loss")),
                _number(r["metrics"].get("val/loss")),
                r["dataset"] or "-",
                r["created"],
            )
            for r in rows
        ],
    )
    return 0


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def run_show(args: argparse.Namespace) -> int:
    from studio_desktop.jobs.experiment import open_experiment

    catalog = Catalog(open_workdir(args.workdir).catalog_path)
    experiment = open_experiment(catalog, args.name)
    info = summarize(experiment)
    checkpoint = experiment.latest_checkpoint()
    data = {
        **dataclasses.asdict(catalog.experiment(args.name)),
        **info,
        "latest_checkpoint": str(checkpoint) if checkpoint else None,
        "model": str(experiment.model_dir) if experiment.model_dir.exists() else None,
        "predictions": str(experiment.predictions_path) if experiment.predictions_path.exists() else None,
    }
    if args.json:
        print_json(data)
        return 0
    for key, value in data.items():
        if key == "metrics":
            for name, number in sorted(value.items()):
                print(f"  {name:<26} {number:.6g}")
        else:
            print(f"{key:<18} {value if value is not None else '-'}")
    return 0


def run_stop(args: argparse.Namespace) -> int:
    from studio_desktop.core.errors import CatalogError
    from studio_desktop.jobs.experiment import ACTIVE_STATUSES, open_experiment

    experiment = open_experiment(Catalog(open_workdir(args.workdir).catalog_path), args.name)
    if experiment.status() not in ACTIVE_STATUSES:
        raise CatalogError(f"experiment {args.name!r} is not running ({experiment.status()}).")
    experiment.request_stop()
    print(f"asked {args.name} to save a checkpoint and stop")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from studio_desktop.jobs.experiment import delete_experiment

    delete_experiment(Catalog(open_workdir(args.workdir).catalog_path), args.name)
    print(f"deleted {args.name}")
    return 0


def run_rename(args: argparse.Namespace) -> int:
    from studio_desktop.jobs.experiment import rename_experiment

    workdir = open_workdir(args.workdir)
    rename_experiment(workdir, Catalog(workdir.catalog_path), args.name, args.new_name)
    print(f"renamed {args.name} to {args.new_name}")
    return 0
