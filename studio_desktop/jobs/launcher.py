"""The command line that starts a child process of the app, from source or from a frozen bundle."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def app_command(args: Sequence[str], workdir: Path | None = None) -> list[str]:
    """``[program, *arguments]`` that runs ``studio-desktop [--workdir DIR] ARGS`` in a new process."""
    frozen = getattr(sys, "frozen", False)
    command = [sys.executable] if frozen else [sys.executable, "-m", "studio_desktop"]
    if workdir is not None:
        command += ["--workdir", str(workdir)]
    return command + list(args)
