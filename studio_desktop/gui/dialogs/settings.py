"""The Settings dialog: working directory, Hugging Face token, default device and chart point limit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.errors import StudioError
from studio_desktop.jobs import app_settings, secrets
from studio_desktop.jobs.app_settings import AppSettings
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import WORKDIR_ENV, Workdir

NEXT_START_NOTE = (
    "A new location takes effect at the next start. Nothing is moved or deleted: your datasets and "
    "experiments stay in the current folder (move them yourself while the app is closed if you like)."
)


def visible_gpus() -> list[tuple[int, str]]:
    """``(index, name)`` of every NVIDIA GPU NVML can see (none without a driver)."""
    from studio_desktop.core.sysinfo import shared_nvml_reader

    gpus, _note = shared_nvml_reader().read()
    return [(gpu.index, gpu.name) for gpu in gpus]


class SettingsDialog(QDialog):
    """Edit the app preferences; OK validates and saves them, Cancel leaves everything as it was.

    The token has its own Save/Delete buttons because it goes to the system keyring, not the catalogue.
    ``gpus`` lists ``(index, name)`` for the device choice; by default the GPUs NVML sees.
    """

    def __init__(
        self,
        workdir: Workdir,
        catalog: Catalog,
        parent: QWidget | None = None,
        gpus: Sequence[tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.workdir = workdir
        self.catalog = catalog
        self.chosen_root: Path | None = None
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        current = app_settings.load_settings(catalog)
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_workdir_group())
        layout.addWidget(self._build_token_group())
        layout.addWidget(self._build_preferences_group(current, visible_gpus() if gpus is None else gpus))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip("Save the settings and close.")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close without saving.")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._refresh_token_status()

    # -- building -------------------------------------------------------------------------------------------

    def _build_workdir_group(self) -> QGroupBox:
        group = QGroupBox("Working directory")
        group.setToolTip(
            "The one folder that holds everything the app writes: datasets, experiments, models."
        )
        self.workdir_edit = QLineEdit(str(self.workdir.root))
        self.workdir_edit.setReadOnly(True)
        self.workdir_edit.setToolTip("The working directory in use now.")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("Pick another folder to use from the next start on.")
        self.choose_button.clicked.connect(self.choose_workdir)
        row = QHBoxLayout()
        row.addWidget(self.workdir_edit, 1)
        row.addWidget(self.choose_button)
        self.workdir_note = QLabel(NEXT_START_NOTE)
        self.workdir_note.setWordWrap(True)
        self.workdir_note.setToolTip(NEXT_START_NOTE)
        form = QVBoxLayout(group)
        form.addLayout(row)
        form.addWidget(self.workdir_note)
        pending = app_settings.chosen_workdir()
        if pending is not None and pending.resolve() != self.workdir.root.resolve():
            self.workdir_note.setText(f"From the next start: {pending}\n{NEXT_START_NOTE}")
        return group

    def _build_token_group(self) -> QGroupBox:
        group = QGroupBox("Hugging Face token")
        group.setToolTip("Used to download gated models and upload exports; kept in the system keyring only.")
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("hf_…")
        self.token_edit.setToolTip("Paste a token from huggingface.co/settings/tokens; it is never shown.")
        self.save_token_button = QPushButton("Save")
        self.save_token_button.setToolTip("Store the token in the system keyring (never in a file).")
        self.save_token_button.clicked.connect(self.save_token)
        self.delete_token_button = QPushButton("Delete")
        self.delete_token_button.setToolTip("Remove the stored token from the system keyring.")
        self.delete_token_button.clicked.connect(self.delete_token)
        row = QHBoxLayout()
        row.addWidget(self.token_edit, 1)
        row.addWidget(self.save_token_button)
        row.addWidget(self.delete_token_button)
        self.token_status = QLabel()
        self.token_status.setWordWrap(True)
        self.token_status.setToolTip("Whether a token is stored, and where.")
        box = QVBoxLayout(group)
        box.addLayout(row)
        box.addWidget(self.token_status)
        return group

    def _build_preferences_group(self, current: AppSettings, gpus: Sequence[tuple[int, str]]) -> QGroupBox:
        group = QGroupBox("Preferences")
        self.device_combo = QComboBox()
        self.device_combo.addItem("Automatic (every visible GPU, else CPU)", "auto")
        self.device_combo.addItem("CPU only", "cpu")
        for index, name in gpus:
            self.device_combo.addItem(f"GPU {index}: {name}", f"cuda:{index}")
        if self.device_combo.findData(current.default_device) < 0:
            self.device_combo.addItem(f"{current.default_device} (not visible now)", current.default_device)
        self.device_combo.setCurrentIndex(self.device_combo.findData(current.default_device))
        self.device_combo.setToolTip(app_settings.DEVICE_HELP)
        self.points_spin = QSpinBox()
        self.points_spin.setRange(app_settings.MIN_CHART_POINTS, app_settings.MAX_CHART_POINTS)
        self.points_spin.setSingleStep(1000)
        self.points_spin.setValue(current.max_chart_points)
        self.points_spin.setToolTip(app_settings.CHART_POINTS_HELP)
        form = QFormLayout(group)
        device_label = QLabel("Default device:")
        device_label.setToolTip(app_settings.DEVICE_HELP)
        points_label = QLabel("Max chart points:")
        points_label.setToolTip(app_settings.CHART_POINTS_HELP)
        form.addRow(device_label, self.device_combo)
        form.addRow(points_label, self.points_spin)
        return group

    # -- actions --------------------------------------------------------------------------------------------

    def choose_workdir(self) -> None:
        """Ask for a folder and remember it for the next start (nothing is moved)."""
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the working directory", str(self.workdir.root)
        )
        if folder:
            self.set_chosen_workdir(Path(folder))

    def set_chosen_workdir(self, folder: Path) -> None:
        """Show ``folder`` as the working directory of the next start; it is saved with OK."""
        self.chosen_root = folder
        self.workdir_edit.setText(str(folder))
        self.workdir_edit.setToolTip(f"In use now: {self.workdir.root}. From the next start: {folder}.")
        note = f"From the next start: {folder}\n{NEXT_START_NOTE}"
        if os.environ.get(WORKDIR_ENV):
            note += f"\n${WORKDIR_ENV} is set and takes precedence while it stays set."
        self.workdir_note.setText(note)

    def save_token(self) -> None:
        """Store the typed token in the keyring and clear the field."""
        try:
            secrets.set_token(self.token_edit.text())
        except StudioError as err:
            self.token_status.setText(str(err))
            return
        self.token_edit.clear()
        self._refresh_token_status("Token saved in the system keyring.")

    def delete_token(self) -> None:
        """Remove the stored token."""
        try:
            removed = secrets.delete_token()
        except StudioError as err:
            self.token_status.setText(str(err))
            return
        self._refresh_token_status("Token deleted." if removed else "No token was stored.")

    def _refresh_token_status(self, prefix: str = "") -> None:
        available = secrets.keyring_available()
        for widget in (self.token_edit, self.save_token_button, self.delete_token_button):
            widget.setEnabled(available)
        if not available:
            self.token_status.setText(secrets.NO_KEYRING_MESSAGE)
            return
        try:
            stored = secrets.get_token() is not None
        except StudioError as err:
            self.token_status.setText(str(err))
            return
        where = f"A token is stored in {secrets.keyring_name()}." if stored else "No token is stored."
        self.token_status.setText(f"{prefix} {where}".strip())

    def settings(self) -> AppSettings:
        """The preferences as edited in the dialog."""
        return AppSettings(str(self.device_combo.currentData()), self.points_spin.value())

    def accept(self) -> None:
        """Validate and save; on an error show it and keep the dialog open."""
        try:
            app_settings.save_settings(self.catalog, self.settings())
            if self.chosen_root is not None:
                app_settings.choose_workdir(self.chosen_root)
        except StudioError as err:
            QMessageBox.warning(self, "Settings not saved", str(err))
            return
        super().accept()
