"""The one working directory that holds everything the app writes, and its folder layout."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from studio_desktop.core.errors import StudioError

WORKDIR_ENV = "STUDIO_DESKTOP_WORKDIR"
APP_NAME = "studio-desktop"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def default_root() -> Path:
    """The platform's user data folder (``~/.local/share/studio-desktop`` on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def resolve_root(override: str | Path | None = None) -> Path:
    """Pick the root: an explicit override, else ``$STUDIO_DESKTOP_WORKDIR``, else the platform default."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(WORKDIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return default_root()


def check_name(name: str, what: str) -> str:
    """A dataset or experiment name must be usable as a folder name on every platform."""
    if not NAME_PATTERN.match(name) or name in (".", ".."):
        raise StudioError(
            f"{what} name {name!r} is not allowed: use up to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


@dataclass(frozen=True)
class Workdir:
    """Folder layout under the root."""

    root: Path

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def experiments(self) -> Path:
        return self.root / "experiments"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def hf_home(self) -> Path:
        return self.root / "hf-cache"

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.sqlite"

    def dataset_dir(self, name: str) -> Path:
        """Folder of an imported dataset."""
        return self.datasets / check_name(name, "dataset")

    def experiment_dir(self, name: str) -> Path:
        """Folder of an experiment."""
        return self.experiments / check_name(name, "experiment")


def open_workdir(override: str | Path | None = None) -> Workdir:
    """Create the layout if needed and keep the Hugging Face cache inside it unless ``HF_HOME`` is set."""
    workdir = Workdir(resolve_root(override))
    try:
        for folder in (workdir.datasets, workdir.experiments, workdir.models, workdir.exports, workdir.logs):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StudioError(
            f"cannot create the working directory {workdir.root}: {err.strerror or err}. "
            f"Choose another location with --workdir or {WORKDIR_ENV}."
        ) from None
    os.environ.setdefault("HF_HOME", str(workdir.hf_home))
    return workdir
