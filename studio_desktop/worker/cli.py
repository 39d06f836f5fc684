"""Entry of worker processes: ``studio-desktop [--workdir DIR] worker train EXPERIMENT_DIR [--resume]``.

Started by the launcher, not by users; it is kept out of the public command list.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from studio_desktop.jobs.workdir import resolve_root


def main(argv: Sequence[str], workdir: str | None) -> int:
    """Parse the worker arguments (after ``worker``) and run it; returns the exit code."""
    parser = argparse.ArgumentParser(prog="studio-desktop worker")
    sub = parser.add_subparsers(dest="kind", required=True)
    train = sub.add_parser("train")
    train.add_argument("experiment_dir", type=Path)
    train.add_argument("--resume", action="store_true")
    args = parser.parse_args(list(argv))
    from studio_desktop.worker.train import run_training

    return run_training(resolve_root(workdir), args.experiment_dir.resolve(), resume=args.resume)
