"""App preferences kept in the catalogue, with types and validation, and the working directory choice.

Preferences live in the working directory like everything else the app writes. The one exception is the
choice of working directory itself, which must be readable before the working directory is known: it is a
pointer file handled by :mod:`studio_desktop.jobs.workdir`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio_desktop.core.errors import StudioError
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import read_pointer, resolve_root, write_pointer

DEFAULT_DEVICE_KEY = "app.default_device"
MAX_CHART_POINTS_KEY = "app.max_chart_points"
DEFAULT_DEVICE = "auto"
DEFAULT_MAX_CHART_POINTS = 5000
MIN_CHART_POINTS = 100
MAX_CHART_POINTS = 1_000_000
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda:(0|[1-9][0-9]{0,2}))$")

DEVICE_HELP = (
    "Where new experiments train unless their config names GPUs: 'auto' uses every visible GPU "
    "(or the CPU if none), 'cpu' never uses a GPU, 'cuda:N' uses GPU number N."
)
CHART_POINTS_HELP = (
    f"Most points drawn per curve; longer runs are thinned for drawing (the event file keeps every value). "
    f"Between {MIN_CHART_POINTS} and {MAX_CHART_POINTS}."
)


def check_device(device: str) -> str:
    """Return ``device`` if it is 'auto', 'cpu' or 'cuda:N'; raise a StudioError naming the setting."""
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device.strip()):
        raise StudioError(f"default device {device!r} is not allowed: use 'auto', 'cpu' or 'cuda:N'.")
    return device.strip()


def check_chart_points(points: int) -> int:
    """Return ``points`` if it is a whole number in the allowed range; raise a StudioError otherwise."""
    if isinstance(points, bool) or not isinstance(points, int):
        raise StudioError(f"max chart points must be a whole number, not {points!r}.")
    if not MIN_CHART_POINTS <= points <= MAX_CHART_POINTS:
        raise StudioError(
            f"max chart points {points} is out of range: use {MIN_CHART_POINTS} to {MAX_CHART_POINTS}."
        )
    return points


def device_gpus(device: str) -> tuple[str, ...]:
    """The ``environment.gpus`` value a new config gets from a default device: ('N',) for 'cuda:N', else ().

    The config has no way to say "CPU only" (empty means every visible GPU); see :func:`device_environment`.
    """
    device = check_device(device)
    return (device.split(":", 1)[1],) if device.startswith("cuda:") else ()


def device_environment(device: str) -> dict[str, str]:
    """Environment for a worker child: 'cpu' hides every GPU (``CUDA_VISIBLE_DEVICES=""``), else nothing."""
    return {"CUDA_VISIBLE_DEVICES": ""} if check_device(device) == "cpu" else {}


@dataclass(frozen=True)
class AppSettings:
    """A snapshot of the preferences; stored values that fail validation read as the defaults."""

    default_device: str = DEFAULT_DEVICE
    max_chart_points: int = DEFAULT_MAX_CHART_POINTS


def get_default_device(catalog: Catalog) -> str:
    """The default device for new experiments ('auto' when unset or invalid)."""
    try:
        return check_device(catalog.get_setting(DEFAULT_DEVICE_KEY, DEFAULT_DEVICE))
    except StudioError:
        return DEFAULT_DEVICE


def set_default_device(catalog: Catalog, device: str) -> str:
    """Validate and store the default device; return the stored value."""
    device = check_device(device)
    catalog.set_setting(DEFAULT_DEVICE_KEY, device)
    return device


def get_max_chart_points(catalog: Catalog) -> int:
    """The most points a curve plot draws (5000 when unset or invalid)."""
    try:
        return check_chart_points(catalog.get_setting(MAX_CHART_POINTS_KEY, DEFAULT_MAX_CHART_POINTS))
    except StudioError:
        return DEFAULT_MAX_CHART_POINTS


def set_max_chart_points(catalog: Catalog, points: int) -> int:
    """Validate and store the chart point limit; return the stored value."""
    points = check_chart_points(points)
    catalog.set_setting(MAX_CHART_POINTS_KEY, points)
    return points


def load_settings(catalog: Catalog) -> AppSettings:
    """All preferences at once."""
    return AppSettings(get_default_device(catalog), get_max_chart_points(catalog))


def save_settings(catalog: Catalog, settings: AppSettings) -> None:
    """Validate every value first, then store them all (nothing is stored when one is invalid)."""
    device = check_device(settings.default_device)
    points = check_chart_points(settings.max_chart_points)
    set_default_device(catalog, device)
    set_max_chart_points(catalog, points)


def chosen_workdir() -> Path | None:
    """The working directory chosen for the next start, or None when the platform default applies."""
    return read_pointer()


def choose_workdir(root: str | Path) -> Path:
    """Use ``root`` as the working directory from the next start on.

    Nothing is moved, copied or deleted: the current folder stays as it is, and a new folder starts empty
    (or opens what an earlier working directory left there). Returns the resolved path.
    """
    return write_pointer(root)


def next_start_workdir() -> Path:
    """Where the next start will open without ``--workdir``: honours the environment variable, then the
    pointer file, then the platform default."""
    return resolve_root()
