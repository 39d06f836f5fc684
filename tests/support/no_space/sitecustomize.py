"""Put this folder on a worker's PYTHONPATH to make its disk fill up while it writes one checkpoint.

Python runs ``sitecustomize`` at start-up. With ``STUDIO_TEST_NO_SPACE_IN`` naming a checkpoint folder (e.g.
``checkpoint-8``), writing ``trainer_state.json`` into that folder (the Trainer's last file of a checkpoint)
fails as it does on a full disk: half of the text reaches the file, then ``OSError(ENOSPC)`` is raised.
Every other write, including the earlier checkpoints, goes through untouched.
"""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path
from typing import Any

FOLDER = os.environ.get("STUDIO_TEST_NO_SPACE_IN", "")
_open = builtins.open


class FullDiskFile:
    """A text file on a disk that fills up halfway through the first write."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def write(self, text: str) -> int:
        self.handle.write(text[: len(text) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> FullDiskFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_on_a_full_disk(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    handle = _open(file, mode, *args, **kwargs)
    if isinstance(file, (str, os.PathLike)) and "w" in mode:
        path = Path(file)
        if path.name == "trainer_state.json" and path.parent.name == FOLDER:
            return FullDiskFile(handle)
    return handle


if FOLDER:
    builtins.open = open_on_a_full_disk
