"""Single entry, from source or frozen: no command opens the window, a command runs the CLI,
``worker ...`` runs a worker process."""

from __future__ import annotations

import sys
from collections.abc import Sequence

WORKER_COMMAND = "worker"


def split_workdir(argv: list[str]) -> tuple[str | None, list[str]]:
    """Take a leading ``--workdir DIR`` (or ``--workdir=DIR``) off the arguments."""
    if argv[:1] == ["--workdir"] and len(argv) > 1:
        return argv[1], argv[2:]
    if argv and argv[0].startswith("--workdir="):
        return argv[0].split("=", 1)[1], argv[1:]
    return None, argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``studio-desktop`` with ``argv`` (default: the process arguments)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    workdir, rest = split_workdir(arguments)
    if rest[:1] == [WORKER_COMMAND]:
        from studio_desktop.worker.cli import main as worker_main

        return worker_main(rest[1:], workdir)
    if rest in ([], ["gui"]):  # the window: no need to import every command group for the parser
        from studio_desktop.gui.app import run_gui

        return run_gui(workdir)
    from studio_desktop import cli

    args = cli.build_parser().parse_args(arguments)
    if args.handler is None:
        from studio_desktop.gui.app import run_gui

        return run_gui(args.workdir)
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
