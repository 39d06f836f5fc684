"""Writing a folder so that readers see either the old one or the complete new one, never a half."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path


def _swap_in(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an earlier ``target`` is set aside and deleted once ``new`` is in."""
    if not target.exists():
        os.replace(new, target)
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
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
    work = target.parent / f".{target.name}.tmp-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        write(work)
        _swap_in(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target
