"""Single entry, from source or frozen: no command opens the window, a command runs the CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``studio-desktop`` with ``argv`` (default: the process arguments)."""
    from studio_desktop import cli

    args = cli.build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.handler is None:
        from studio_desktop.gui.app import run_gui

        return run_gui(args.workdir)
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
