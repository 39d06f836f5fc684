"""A disk that fills up during a run: recognised, the half-written checkpoint removed, a message to act on."""

from __future__ import annotations

import errno
import shutil
import traceback
from collections.abc import Iterator
from pathlib import Path

from studio_desktop.core.events import Failed
from studio_desktop.jobs.experiment import Experiment

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
NO_SPACE_TEXTS = ("no space left on device", "disk quota exceeded", "os error 28", "os error 122")
# A write that failed for lack of space leaves at most a few blocks free. torch's checkpoint writer reports
# such a failure only as "unexpected pos" or "file write failed", so the free space beside it tells.
FULL_BELOW_BYTES = 1 << 20


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def no_space_error(error: BaseException) -> bool:
    """Whether the error, or one it was raised from, says the disk (or the user's quota) is full."""
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.errno in NO_SPACE_ERRNOS:
            return True
        if any(text in str(cause).lower() for text in NO_SPACE_TEXTS):
            return True
    return False


def free_bytes(path: Path) -> int | None:
    """Free space for this user on the filesystem holding ``path`` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def remove_incomplete_checkpoints(experiment: Experiment) -> list[Path]:
    """Delete the checkpoint folders whose writing was cut short; returns them."""
    removed = experiment.incomplete_checkpoints()
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def disk_full_failure(error: BaseException, experiment: Experiment) -> Failed | None:
    """The failed event of a run that ran out of disk space, else None.

    The checkpoint being written is deleted first: it can never be loaded, and the space it took is what
    the final event needs when the events file is on the same disk.
    """
    partial = experiment.incomplete_checkpoints()
    filename = next((c.filename for c in _causes(error) if isinstance(c, OSError) and c.filename), None)
    where = partial[-1] if partial else Path(filename) if filename else experiment.path
    free = free_bytes(where)
    full = bool(partial) and free is not None and free < FULL_BELOW_BYTES
    if not (no_space_error(error) or full):
        return None
    remove_incomplete_checkpoints(experiment)
    what = f"checkpoint {where}" if partial else str(where)
    previous = experiment.latest_checkpoint()
    if previous is not None:
        advice = (
            f"The previous checkpoint ({previous.name}) is intact: free some space on that disk, then resume "
            "the experiment to continue from it."
        )
    else:
        advice = "Free some space on that disk, then resume the experiment (it starts from the beginning)."
    return Failed(
        failure="disk-full",
        message=f"No space left on device while writing {what}. {advice}",
        details="".join(traceback.format_exception(error)),
    )
