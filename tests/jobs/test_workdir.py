"""Working directory: location, overrides, layout and the Hugging Face cache inside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio_desktop.core.errors import StudioError
from studio_desktop.jobs.workdir import WORKDIR_ENV, check_name, default_root, open_workdir, resolve_root


def test_default_is_the_platform_user_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(WORKDIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "studio-desktop"
    assert resolve_root() == default_root()


def test_environment_variable_then_explicit_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(WORKDIR_ENV, str(tmp_path / "from-env"))
    assert resolve_root() == tmp_path / "from-env"
    assert resolve_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_layout_is_created_and_nothing_else(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HOME", raising=False)
    wd = open_workdir()
    assert wd.root == workdir
    assert sorted(p.name for p in workdir.iterdir()) == [
        "datasets",
        "experiments",
        "exports",
        "logs",
        "models",
    ]
    assert os.environ["HF_HOME"] == str(workdir / "hf-cache")


def test_existing_hf_home_is_respected(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "mine"))
    open_workdir()
    assert os.environ["HF_HOME"] == str(tmp_path / "mine")


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StudioError, match="cannot create the working directory"):
        open_workdir(blocker / "below")


@pytest.mark.parametrize("name", ["demo", "my_data-2", "v1.0"])
def test_good_names(name: str) -> None:
    assert check_name(name, "dataset") == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "with space", "x" * 101])
def test_bad_names(name: str) -> None:
    with pytest.raises(StudioError, match="dataset name"):
        check_name(name, "dataset")
