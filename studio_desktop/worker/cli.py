"""Entry of worker processes: ``studio-desktop [--workdir DIR] worker train EXPERIMENT_DIR [--resume]`` (the
supervisor, which runs each ``worker train-attempt`` in a child process) and ``studio-desktop [--workdir DIR]
worker chat SPEC``.

Started by the launcher, not by users; it is kept out of the public command list.
"""

from __future__ import annotations

import argparse
import os
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
    attempt = sub.add_parser("train-attempt")
    attempt.add_argument("experiment_dir", type=Path)
    attempt.add_argument("--resume", action="store_true")
    chat = sub.add_parser("chat")
    chat.add_argument("spec", help="experiment name or backbone")
    args = parser.parse_args(list(argv))
    if args.kind == "chat":
        from studio_desktop.worker.chat import run_chat

        return run_chat(resolve_root(workdir), args.spec)
    root, experiment_dir = resolve_root(workdir), args.experiment_dir.resolve()
    if args.kind == "train":
        from studio_desktop.worker.supervisor import Supervisor

        return Supervisor(root, experiment_dir).run(resume=args.resume)
    from studio_desktop.worker.supervisor import die_with_parent
    from studio_desktop.worker.train import run_training

    die_with_parent(os.getppid())
    return run_training(root, experiment_dir, resume=args.resume, supervised=True)
