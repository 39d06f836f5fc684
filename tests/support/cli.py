"""Running the real command line in a child process, and checking its success or its one-paragraph error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def child_env(**changes: str | None) -> dict[str, str]:
    """This environment for a child ``studio-desktop``: repo on the path, offline, no inherited workdir."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["HF_HUB_OFFLINE"] = "1"
    for name in ("HF_HOME", "STUDIO_DESKTOP_WORKDIR"):
        env.pop(name, None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def cli(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``studio-desktop --workdir WORKDIR ARGS`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), *args],
        capture_output=True,
        text=True,
        env=env or child_env(),
        cwd=workdir.parent,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must succeed without a traceback."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess[str]) -> str:
    """The one-paragraph error of a command that must fail (progress lines aside)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "unexpected" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("[")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]
