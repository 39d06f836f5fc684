"""The one working directory that holds everything the app writes, and its folder layout."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio_desktop.core.errors import StudioError
from studio_desktop.core.files import pid_alive

WORKDIR_ENV = "STUDIO_DESKTOP_WORKDIR"
APP_NAME = "studio-desktop"
POINTER_NAME = "workdir"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def default_root() -> Path:
    """The platform's user data folder (``~/.local/share/studio-desktop`` on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def pointer_path() -> Path:
    """The one file the app keeps outside the working directory: it names the chosen working directory.

    ``~/.config/studio-desktop/workdir`` on Linux (``$XDG_CONFIG_HOME`` is honoured).
    """
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / POINTER_NAME


def read_pointer() -> Path | None:
    """The working directory chosen in the settings, or None when none was chosen (or it is unreadable)."""
    try:
        text = pointer_path().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(text).expanduser() if text else None


def write_pointer(root: str | Path) -> Path:
    """Remember ``root`` as the working directory from the next start on; nothing is moved or deleted."""
    target = Path(root).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise StudioError(f"{target} is a file; choose a folder for the working directory.")
    path = pointer_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(POINTER_NAME + ".tmp")
        temporary.write_text(str(target) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as err:
        reason = err.strerror or err
        raise StudioError(f"cannot save the working directory choice in {path}: {reason}") from None
    return target


def clear_pointer() -> None:
    """Forget the chosen working directory: the platform default applies from the next start."""
    pointer_path().unlink(missing_ok=True)


def resolve_root(override: str | Path | None = None) -> Path:
    """Pick the root: an explicit override, ``$STUDIO_DESKTOP_WORKDIR``, the pointer file, the default."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(WORKDIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    chosen = read_pointer()
    if chosen is not None:
        return chosen.resolve()
    return default_root()


def check_name(name: str, what: str) -> str:
    """A dataset or experiment name must be usable as a folder name on every platform."""
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
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


TOMBSTONE_PREFIX = ".deleting-"


def delete_folder(folder: Path, unregister: Callable[[], None]) -> None:
    """Delete a dataset or experiment folder so that a crash at any moment leaves either the registered
    folder or nothing visible: it becomes a hidden tombstone first, then it is unregistered, then removed.

    Files that cannot be removed raise a ``StudioError`` naming the tombstone (the entry is gone already);
    a tombstone whose process died is removed by the next ``open_workdir``.
    """
    tombstone = folder.with_name(f"{TOMBSTONE_PREFIX}{os.getpid()}-{folder.name}")
    present = folder.exists()
    if present:
        os.replace(folder, tombstone)
    try:
        unregister()
    except BaseException:
        if present:
            os.replace(tombstone, folder)
        raise
    problems: list[str] = []
    shutil.rmtree(tombstone, onerror=lambda _f, path, info: problems.append(f"{path}: {info[1]}"))
    if problems:
        raise StudioError(
            f"{folder.name} is deleted from the catalogue, but {len(problems)} file(s) in {tombstone} could "
            f"not be removed ({problems[0]}); delete that folder by hand."
        )


def clear_tombstones(parent: Path) -> None:
    """Remove the tombstones that deletes of processes no longer running left in ``parent``."""
    for tombstone in parent.glob(f"{TOMBSTONE_PREFIX}*"):
        pid = tombstone.name[len(TOMBSTONE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(tombstone, ignore_errors=True)


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
    for parent in (workdir.datasets, workdir.experiments):
        clear_tombstones(parent)
    return workdir
