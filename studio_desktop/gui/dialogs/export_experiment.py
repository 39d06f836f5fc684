"""Export a finished experiment as a merged model folder, a LoRA adapter or a verified GGUF file, via
``studio-desktop export``."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.gguf_formats import QUANTS
from studio_desktop.gui.process import CommandRunner

FORMATS = (
    (
        "merged",
        "Merged model",
        "The adapter folded into the backbone: a complete Hugging Face model folder that loads with plain "
        "transformers (largest, simplest to use).",
    ),
    (
        "adapter",
        "LoRA adapter only",
        "Only the trained adapter weights (a few MB); load them with peft on top of the same backbone.",
    ),
    (
        "gguf",
        "GGUF file (llama.cpp, Ollama, LM Studio)",
        "One file of the merged model with an Ollama Modelfile; checked against the merged model before "
        "it is reported done. Llama-architecture models (SmolLM2, Llama, Mistral) only.",
    ),
)


def default_export_folder(workdir: Path, name: str, kind: str) -> Path:
    """``<workdir>/exports/<name>-<kind>`` (``<kind>`` is the quantisation for GGUF), the CLI's default."""
    return Path(workdir) / "exports" / f"{name}-{kind}"


class ExportExperimentDialog(QDialog):
    """Pick a format, a folder and whether to overwrite; runs the CLI with a progress bar."""

    def __init__(self, workdir: Path, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export {name}")
        self.workdir = Path(workdir)
        self.name = name
        self.exported_folder: Path | None = None
        self.runner = CommandRunner(self.workdir, self)
        self.runner.progress.connect(self._progress)
        self.runner.finished_ok.connect(self._succeeded)
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(lambda: self._finish("Export cancelled.", ok=False))
        formats = self._build_format_box()
        self.folder = QLineEdit(str(default_export_folder(self.workdir, name, "merged")))
        self.folder.setToolTip("The folder to write; it must not exist unless 'Overwrite' is checked")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("Output folder:"))
        folder_row.addWidget(self.folder, stretch=1)
        folder_row.addWidget(browse)
        self.overwrite = QCheckBox("Overwrite an earlier export in that folder")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.stage = QLabel("")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open folder")
        self.open_button.setVisible(False)
        self.open_button.clicked.connect(self.open_folder)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self._close_or_cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(formats)
        layout.addLayout(folder_row)
        layout.addWidget(self.overwrite)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.stage)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.setMinimumWidth(640)

    def _build_format_box(self) -> QGroupBox:
        self.format_group = QButtonGroup(self)
        self.format_buttons: dict[str, QRadioButton] = {}
        formats = QGroupBox("Format")
        formats_layout = QVBoxLayout(formats)
        for kind, title, help_text in FORMATS:
            button = QRadioButton(title)
            button.setToolTip(help_text)
            self.format_group.addButton(button)
            self.format_buttons[kind] = button
            explanation = QLabel(help_text)
            explanation.setWordWrap(True)
            explanation.setStyleSheet("color: #555555;")
            explanation.setContentsMargins(22, 0, 0, 4)
            formats_layout.addWidget(button)
            formats_layout.addWidget(explanation)
        self.quant = QComboBox()
        for quant, (_type, _file_type, label) in QUANTS.items():
            self.quant.addItem(label, quant)
        self.quant.setCurrentIndex(self.quant.findData("q8_0"))
        self.quant.setToolTip(
            "How the GGUF file stores the weights: Q8_0 is close to the original at half of f16"
        )
        self.quant.setEnabled(False)
        self.quant.currentIndexChanged.connect(lambda _index: self._format_changed(None, True))
        quant_row = QHBoxLayout()
        quant_row.setContentsMargins(22, 0, 0, 0)
        quant_row.addWidget(QLabel("Storage:"))
        quant_row.addWidget(self.quant, stretch=1)
        formats_layout.addLayout(quant_row)
        self.format_buttons["merged"].setChecked(True)
        self.format_group.buttonToggled.connect(self._format_changed)
        return formats

    @property
    def folder_suffix(self) -> str:
        """The end of the default folder name: the format, or the quantisation of a GGUF file."""
        return self.quant.currentData() if self.kind == "gguf" else self.kind

    @property
    def kind(self) -> str:
        """The format picked: ``merged``, ``adapter`` or ``gguf``."""
        return next(kind for kind, button in self.format_buttons.items() if button.isChecked())

    def arguments(self) -> list[str]:
        """The ``studio-desktop`` arguments the export runs with."""
        args = ["export", self.name, "--format", self.kind, "--out", self.folder.text().strip(), "--json"]
        if self.kind == "gguf":
            args += ["--quant", self.quant.currentData()]
        return [*args, "--overwrite"] if self.overwrite.isChecked() else args

    def _format_changed(self, _button: QRadioButton | None, checked: bool) -> None:
        if not checked:
            return
        self.quant.setEnabled(self.kind == "gguf")
        suffixes = [kind for kind, _t, _h in FORMATS] + list(QUANTS)
        defaults = {str(default_export_folder(self.workdir, self.name, suffix)) for suffix in suffixes}
        if self.folder.text().strip() in defaults or not self.folder.text().strip():
            self.folder.setText(str(default_export_folder(self.workdir, self.name, self.folder_suffix)))

    def _browse(self) -> None:
        start = str(Path(self.folder.text()).parent)
        chosen = QFileDialog.getExistingDirectory(self, "Export into", start)
        if chosen:
            self.folder.setText(str(Path(chosen) / f"{self.name}-{self.folder_suffix}"))

    def start_export(self) -> None:
        """Run the export in a child process; the dialog stays responsive."""
        if not self.folder.text().strip():
            self._show_message("Choose an output folder.", ok=False)
            return
        self.exported_folder = None
        self.open_button.setVisible(False)
        self.progress_bar.setValue(0)
        self.stage.setText("Starting…")
        self._set_running(True)
        self.runner.start(self.arguments())
        self._show_message(f"Running: {self.runner.command_line}", ok=True)

    def _progress(self, stage: str, fraction: float) -> None:
        self.progress_bar.setValue(round(fraction * 100))
        self.stage.setText(stage)

    def _succeeded(self, stdout: str) -> None:
        try:
            self.exported_folder = Path(json.loads(stdout)["folder"])
        except (ValueError, KeyError, TypeError):
            self.exported_folder = Path(self.folder.text().strip())
        self.progress_bar.setValue(100)
        self.open_button.setVisible(True)
        self._finish(f"Exported {self.name} ({self.kind}) to {self.exported_folder}", ok=True)

    def _failed(self, message: str) -> None:
        self._finish(message.replace("pass --overwrite", "check 'Overwrite'"), ok=False)

    def _finish(self, message: str, ok: bool) -> None:
        self._set_running(False)
        self.stage.setText("Done" if ok else "")
        self._show_message(message, ok=ok)

    def _show_message(self, text: str, ok: bool) -> None:
        self.message.setStyleSheet("" if ok else "color: #b00020;")
        self.message.setText(text)

    def _set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.close_button.setText("Cancel" if running else "Close")
        for widget in (*self.format_buttons.values(), self.folder, self.overwrite):
            widget.setEnabled(not running)

    def _close_or_cancel(self) -> None:
        if self.runner.is_running():
            self.runner.cancel()
        else:
            self.accept()

    def reject(self) -> None:
        """Escape or the window's close button cancel a running export before closing."""
        self.runner.cancel()
        super().reject()

    def open_folder(self) -> None:
        """Show the exported folder in the file manager."""
        if self.exported_folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.exported_folder)))
