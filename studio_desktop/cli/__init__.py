"""Command-line twin of every GUI action: ``studio-desktop COMMAND ...``."""

from __future__ import annotations

import argparse
import sys
import traceback

from studio_desktop import __version__
from studio_desktop.cli import backbones, chat, configs, datasets, experiments, exports, setup
from studio_desktop.core.errors import StudioError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command."""
    parser = argparse.ArgumentParser(
        prog="studio-desktop",
        description="Fine-tune language models offline. Without a command the desktop window opens.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        help="working directory for everything the app writes (default: $STUDIO_DESKTOP_WORKDIR or the "
        "platform's user data folder)",
    )
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("gui", help="open the desktop window (the default without a command)").set_defaults(
        handler=None
    )
    setup.add_commands(commands)
    datasets.add_commands(commands)
    backbones.add_commands(commands)
    configs.add_commands(commands)
    experiments.add_commands(commands)
    chat.add_commands(commands)
    exports.add_commands(commands)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run a parsed command. A user error prints one paragraph on stderr and exits non-zero, no traceback."""
    try:
        return args.handler(args) or EXIT_OK
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (PermissionError, OSError) as err:
        if err.filename is None:  # not about a file: unexpected, handled below
            return _unexpected(args, err)
        where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
        print(
            f"error: cannot use {where}: {err.strerror or err}. Check that the working directory is writable "
            "(or choose another with --workdir) and that the disk has space.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except Exception as err:  # an unexpected failure: keep the details in a log file
        return _unexpected(args, err)


def _unexpected(args: argparse.Namespace, err: Exception) -> int:
    log = setup.write_crash_log(args.workdir, traceback.format_exc())
    print(f"error: unexpected {type(err).__name__}: {err}. Details: {log}", file=sys.stderr)
    return EXIT_ERROR
