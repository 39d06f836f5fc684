"""App preferences, the working directory pointer file and the Hugging Face token in the keyring."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_desktop.core.errors import StudioError
from studio_desktop.jobs import app_settings, secrets
from studio_desktop.jobs.app_settings import AppSettings
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import WORKDIR_ENV, open_workdir, pointer_path, resolve_root
from tests.support.keyrings import SECRET, MemoryKeyring


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated ``$XDG_CONFIG_HOME`` (platformdirs reads it on Linux) so no real pointer file is used."""
    home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def catalog(workdir: Path) -> Catalog:
    return Catalog(open_workdir().catalog_path)


# -- preferences ----------------------------------------------------------------------------------------


def test_defaults_then_round_trip(catalog: Catalog) -> None:
    assert app_settings.load_settings(catalog) == AppSettings("auto", 5000)
    app_settings.save_settings(catalog, AppSettings("cuda:1", 20000))
    reopened = Catalog(catalog.path)
    assert app_settings.load_settings(reopened) == AppSettings("cuda:1", 20000)
    assert app_settings.set_default_device(catalog, " cpu ") == "cpu"
    assert app_settings.get_default_device(catalog) == "cpu"


@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:-1", "cuda:01", "CPU", "", "cuda:1,2"])
def test_bad_device_is_refused_and_nothing_is_stored(catalog: Catalog, device: str) -> None:
    with pytest.raises(StudioError, match="default device"):
        app_settings.save_settings(catalog, AppSettings(device, 7000))
    assert app_settings.load_settings(catalog) == AppSettings("auto", 5000)


@pytest.mark.parametrize("points", [0, 99, 1_000_001, 5000.0, True, "5000"])
def test_bad_chart_points_are_refused(catalog: Catalog, points: object) -> None:
    with pytest.raises(StudioError, match="max chart points"):
        app_settings.set_max_chart_points(catalog, points)  # type: ignore[arg-type]
    assert app_settings.get_max_chart_points(catalog) == 5000


def test_corrupt_stored_values_read_as_defaults(catalog: Catalog) -> None:
    catalog.set_setting(app_settings.DEFAULT_DEVICE_KEY, "tpu")
    catalog.set_setting(app_settings.MAX_CHART_POINTS_KEY, "lots")
    assert app_settings.load_settings(catalog) == AppSettings()


def test_device_maps_to_config_gpus_and_worker_environment() -> None:
    assert app_settings.device_gpus("auto") == ()
    assert app_settings.device_gpus("cuda:3") == ("3",)
    assert app_settings.device_environment("cpu") == {"CUDA_VISIBLE_DEVICES": ""}
    assert app_settings.device_environment("cuda:0") == {}


# -- working directory pointer --------------------------------------------------------------------------


def test_pointer_file_lives_in_the_user_config_dir(config_home: Path) -> None:
    assert pointer_path() == config_home / "studio-desktop" / "workdir"


def test_resolution_order(config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKDIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert resolve_root() == tmp_path / "data" / "studio-desktop"
    app_settings.choose_workdir(tmp_path / "chosen")
    assert (config_home / "studio-desktop" / "workdir").read_text().strip() == str(tmp_path / "chosen")
    assert resolve_root() == tmp_path / "chosen"
    assert app_settings.chosen_workdir() == tmp_path / "chosen"
    monkeypatch.setenv(WORKDIR_ENV, str(tmp_path / "env"))
    assert resolve_root() == tmp_path / "env"
    assert resolve_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_choosing_a_workdir_moves_and_deletes_nothing(
    config_home: Path, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wd = open_workdir()
    (wd.datasets / "keep.txt").write_text("data")
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    app_settings.choose_workdir(tmp_path / "elsewhere")
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before
    assert not (tmp_path / "elsewhere").exists()
    monkeypatch.delenv(WORKDIR_ENV)
    assert open_workdir().root == tmp_path / "elsewhere"


def test_a_file_cannot_be_chosen(config_home: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StudioError, match="choose a folder"):
        app_settings.choose_workdir(tmp_path / "a-file")
    assert not pointer_path().exists()


# -- Hugging Face token ---------------------------------------------------------------------------------


def test_token_round_trip_in_the_keyring(memory_keyring: MemoryKeyring, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert secrets.keyring_available()
    assert secrets.get_token() is None
    assert secrets.worker_environment() == {}
    secrets.set_token(f"  {SECRET}\n")
    assert memory_keyring.secrets == {("studio-desktop", "huggingface"): SECRET}
    assert secrets.get_token() == SECRET
    assert secrets.worker_environment() == {"HF_TOKEN": SECRET}
    assert secrets.delete_token() is True
    assert secrets.delete_token() is False
    assert secrets.get_token() is None


def test_token_from_the_environment_wins(memory_keyring: MemoryKeyring, monkeypatch) -> None:
    secrets.set_token(SECRET)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert secrets.worker_environment() == {}


@pytest.mark.parametrize("token", ["", "   ", "hf_a b"])
def test_bad_token_is_refused(memory_keyring: MemoryKeyring, token: str) -> None:
    with pytest.raises(StudioError, match="token"):
        secrets.set_token(token)
    assert memory_keyring.secrets == {}


def test_without_a_keyring_the_error_points_to_hf_token(no_keyring: None, workdir: Path) -> None:
    assert not secrets.keyring_available()
    assert secrets.get_token() is None
    with pytest.raises(StudioError, match=r"cannot be stored safely.*HF_TOKEN"):
        secrets.set_token(SECRET)
    with pytest.raises(StudioError, match="HF_TOKEN"):
        secrets.delete_token()
    assert not workdir.exists() or SECRET not in _all_text(workdir)


def test_token_never_reaches_a_file(
    memory_keyring: MemoryKeyring, catalog: Catalog, workdir: Path, config_home: Path
) -> None:
    secrets.set_token(SECRET)
    app_settings.save_settings(catalog, AppSettings("cpu", 800))
    app_settings.choose_workdir(workdir)
    assert secrets.get_token() == SECRET
    assert SECRET in memory_keyring.secrets.values()
    assert SECRET not in _all_text(workdir)
    assert SECRET not in _all_text(config_home)


def _all_text(folder: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()
    )
