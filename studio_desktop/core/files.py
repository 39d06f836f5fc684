"""Writing a folder so that readers see either the old one or the complete new one, never a half.

The hidden siblings carry the writer's pid, so a later write clears what a killed writer left: a half
written folder is deleted, and the earlier folder set aside for a swap that never finished is put back.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sibling(target: Path, kind: str) -> Path:
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def clear_leftovers(target: Path) -> None:
    """Delete the half-written siblings of killed writers of ``target``; put back an earlier folder that a
    killed swap had set aside, when ``target`` itself is missing."""
    for kind in ("tmp", "old"):
        for leftover in target.parent.glob(f".{glob.escape(target.name)}.{kind}-*"):
            pid = leftover.name.rsplit(f".{kind}-", 1)[1].split("-", 1)[0]
            if not pid.isdigit() or pid_alive(int(pid)):
                continue
            if kind == "old" and not target.exists():
                os.replace(leftover, target)
            else:
                shutil.rmtree(leftover, ignore_errors=True)


def _swap_in(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an earlier ``target`` is set aside and deleted once ``new`` is in."""
    if not target.exists():
        os.replace(new, target)
        return
    old = _sibling(target, "old")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old, target)  # put the earlier folder back
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(folder)`` on a hidden sibling of ``target``, then move it into place, replacing ``target``.

    The sibling gets the usual permissions (it is not a private temp folder); on any error it is deleted
    and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(target)
    work = _sibling(target, "tmp")
    work.mkdir()
    try:
        write(work)
        _swap_in(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target
