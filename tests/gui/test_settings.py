"""Settings dialog: preferences saved on OK only, the workdir choice for the next start, the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio_desktop.gui.dialogs.settings import SettingsDialog
from studio_desktop.jobs import app_settings, secrets
from studio_desktop.jobs.app_settings import AppSettings
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import WORKDIR_ENV, Workdir, open_workdir, pointer_path, resolve_root
from tests.support.keyrings import SECRET, MemoryKeyring

GPUS = [(0, "Test GPU A"), (1, "Test GPU B")]


@pytest.fixture
def setup(workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Workdir, Catalog]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    wd = open_workdir()
    return wd, Catalog(wd.catalog_path)


def test_shows_current_values_and_every_control_has_a_tooltip(qtbot, setup, no_keyring) -> None:
    wd, catalog = setup
    app_settings.save_settings(catalog, AppSettings("cuda:1", 1234))
    dialog = SettingsDialog(wd, catalog, gpus=GPUS)
    qtbot.addWidget(dialog)
    assert dialog.workdir_edit.text() == str(wd.root)
    assert "next start" in dialog.workdir_note.text()
    assert dialog.device_combo.currentData() == "cuda:1"
    assert [dialog.device_combo.itemData(i) for i in range(dialog.device_combo.count())] == [
        "auto",
        "cpu",
        "cuda:0",
        "cuda:1",
    ]
    assert dialog.points_spin.value() == 1234
    for widget in (
        dialog.workdir_edit,
        dialog.choose_button,
        dialog.token_edit,
        dialog.save_token_button,
        dialog.delete_token_button,
        dialog.device_combo,
        dialog.points_spin,
    ):
        assert widget.toolTip(), widget


def test_a_stored_device_that_is_not_visible_is_kept(qtbot, setup, no_keyring) -> None:
    wd, catalog = setup
    app_settings.set_default_device(catalog, "cuda:7")
    dialog = SettingsDialog(wd, catalog, gpus=[])
    qtbot.addWidget(dialog)
    assert dialog.device_combo.currentData() == "cuda:7"
    dialog.accept()
    assert app_settings.get_default_device(catalog) == "cuda:7"


def test_ok_saves_and_cancel_does_not(qtbot, setup, no_keyring, tmp_path: Path, monkeypatch) -> None:
    wd, catalog = setup
    dialog = SettingsDialog(wd, catalog, gpus=GPUS)
    qtbot.addWidget(dialog)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.points_spin.setValue(800)
    dialog.set_chosen_workdir(tmp_path / "next")
    dialog.reject()
    assert app_settings.load_settings(catalog) == AppSettings()
    assert not pointer_path().exists()

    dialog = SettingsDialog(wd, catalog, gpus=GPUS)
    qtbot.addWidget(dialog)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.points_spin.setValue(800)
    dialog.set_chosen_workdir(tmp_path / "next")
    assert "next start" in dialog.workdir_note.text()
    with qtbot.waitSignal(dialog.accepted):
        dialog.accept()
    assert app_settings.load_settings(catalog) == AppSettings("cpu", 800)
    monkeypatch.delenv(WORKDIR_ENV)
    assert resolve_root() == tmp_path / "next"
    assert not (tmp_path / "next").exists()
    assert (wd.root / "catalog.sqlite").exists()


def test_without_keyring_the_token_row_is_disabled_with_the_reason(qtbot, setup, no_keyring) -> None:
    wd, catalog = setup
    dialog = SettingsDialog(wd, catalog, gpus=[])
    qtbot.addWidget(dialog)
    assert not dialog.token_edit.isEnabled()
    assert not dialog.save_token_button.isEnabled()
    assert "HF_TOKEN" in dialog.token_status.text()


def test_token_save_and_delete_never_write_a_file(
    qtbot, setup, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    wd, catalog = setup
    dialog = SettingsDialog(wd, catalog, gpus=[])
    qtbot.addWidget(dialog)
    assert dialog.token_edit.isEnabled()
    assert dialog.token_edit.echoMode() == dialog.token_edit.EchoMode.Password
    assert "No token" in dialog.token_status.text()
    dialog.token_edit.setText(SECRET)
    qtbot.mouseClick(dialog.save_token_button, Qt.MouseButton.LeftButton)
    assert secrets.get_token() == SECRET
    assert dialog.token_edit.text() == ""
    assert "stored" in dialog.token_status.text()
    dialog.points_spin.setValue(900)
    dialog.accept()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    assert not any(SECRET.encode() in p.read_bytes() for p in files)
    qtbot.mouseClick(dialog.delete_token_button, Qt.MouseButton.LeftButton)
    assert secrets.get_token() is None
    assert "deleted" in dialog.token_status.text()


def test_theme_is_fusion_and_follows_the_colour_scheme(qapp) -> None:
    from PySide6.QtGui import QPalette

    from studio_desktop.gui.theme import apply_theme, light_palette

    previous_style, previous_palette = qapp.style().name(), qapp.palette()
    try:
        apply_theme(qapp)
        assert qapp.style().name().lower() == "fusion"
        window = QPalette.ColorRole.Window
        assert qapp.palette().color(window) == light_palette().color(window)
        qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert qapp.palette().color(window).lightness() < 80
        assert qapp.palette().color(QPalette.ColorRole.Text).lightness() > 180
        qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert qapp.palette().color(window) == light_palette().color(window)
    finally:
        qapp.setStyle(previous_style)
        qapp.setPalette(previous_palette)
