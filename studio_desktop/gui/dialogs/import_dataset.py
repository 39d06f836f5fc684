"""The Import dataset dialog: choose a file, check the detected columns, run ``dataset import``."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.core.data.documents import TEXT_FORMAT, guess_text_column, is_text_source, text_files
from studio_desktop.core.data.mapping_guess import guess_mapping
from studio_desktop.core.errors import DataError
from studio_desktop.gui.dialogs.import_support import (
    COLUMN_FIELDS,
    DATA_SUFFIXES,
    FORMATS,
    absolute,
    name_from_path,
    preview_html,
)
from studio_desktop.gui.models.dataframe_model import HEAD_ROWS, DataFrameModel, read_head
from studio_desktop.gui.process import CommandRunner
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import NAME_PATTERN, Workdir

DATA_FILTER = f"Data files ({' '.join('*' + s for s in DATA_SUFFIXES)});;All files (*)"
DETECT = "(detect)"


class ImportDatasetDialog(QDialog):
    """Import a data file as a dataset; the work runs in a ``studio-desktop dataset import`` child process.

    ``imported`` (and ``imported_name``) give the new dataset's name when the import succeeded.
    """

    imported = Signal(str)

    def __init__(
        self, workdir: Workdir, catalog: Catalog, path: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.imported_name: str | None = None
        self.detected: dict[str, str | None] = {}
        self._name_edited = False
        self._closing = False
        self.setWindowTitle("Import dataset")
        self.runner = CommandRunner(workdir.root, self)
        self.runner.progress.connect(self._show_progress)
        self.runner.finished_ok.connect(self._import_done)
        self.runner.failed.connect(self._import_failed)
        self.runner.cancelled.connect(self._import_cancelled)
        self.form = QWidget()
        form = QVBoxLayout(self.form)
        form.setContentsMargins(0, 0, 0, 0)
        form.addLayout(self._build_source())
        form.addWidget(self._build_columns())
        form.addWidget(self._build_options())
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.stage = QLabel()
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setDefault(True)
        self.buttons.accepted.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.progress)
        layout.addWidget(self.stage)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(760, 720)
        if path:
            self.set_source(path)
        self._validate()

    def _build_source(self) -> QFormLayout:
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText(
            "CSV, TSV, Parquet, JSON or JSONL file, a saved datasets folder, or .txt/.md raw text"
        )
        self.path_edit.editingFinished.connect(lambda: self.set_source(self.path_edit.text()))
        file_button = QPushButton("File…", toolTip="Choose a data file")
        file_button.clicked.connect(lambda: self._browse("Choose a data file", self.set_source))
        folder_button = QPushButton(
            "Folder…",
            toolTip="Choose a folder written by datasets' save_to_disk, or a folder of .txt/.md files",
        )
        folder_button.clicked.connect(
            lambda: self._browse("Choose a saved datasets folder", self.set_source, folder=True)
        )
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(file_button)
        row.addWidget(folder_button)
        self.name_edit = QLineEdit(toolTip="Letters, digits, '.', '_' or '-'; must be new")
        self.name_edit.textEdited.connect(self._name_typed)
        self.name_edit.textChanged.connect(self._validate)
        layout = QFormLayout()
        layout.addRow("Data:", row)
        layout.addRow("Name:", self.name_edit)
        return layout

    def _build_columns(self) -> QGroupBox:
        box = QGroupBox("Columns")
        self.format_box = QComboBox(toolTip="How the file holds its conversations")
        for text, value in FORMATS:
            self.format_box.addItem(text, value)
        grid = QGridLayout()
        grid.addWidget(QLabel("Format:"), 0, 0)
        grid.addWidget(self.format_box, 0, 1, 1, 3)
        self.column_boxes: dict[str, QComboBox] = {}
        for i, (field, (label, tip)) in enumerate(COLUMN_FIELDS.items()):
            combo = QComboBox(toolTip=tip)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
            self.column_boxes[field] = combo
            row, column = 1 + i // 2, 2 * (i % 2)
            grid.addWidget(QLabel(f"{label}:"), row, column)
            grid.addWidget(combo, row, column + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.detection = QLabel()
        self.detection.setWordWrap(True)
        self.head_model = DataFrameModel(page_size=HEAD_ROWS, max_chars=80, parent=self)
        self.head_view = QTableView()
        self.head_view.setModel(self.head_model)
        self.head_view.setMinimumHeight(130)
        self.head_view.setWordWrap(False)
        self.head_view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.head_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.preview = QTextBrowser(toolTip="The first conversations as the chosen columns map them")
        self.preview.setMinimumHeight(90)
        layout = QVBoxLayout(box)
        layout.addLayout(grid)
        layout.addWidget(self.detection)
        layout.addWidget(self.head_view, 1)
        layout.addWidget(self.preview, 1)
        self._fill_columns([])
        self.format_box.currentIndexChanged.connect(self._update_preview)
        for combo in self.column_boxes.values():
            combo.currentIndexChanged.connect(self._update_preview)
        return box

    def _update_preview(self) -> None:
        overrides: dict[str, Any] = {}
        if self.format_box.currentData():
            overrides["format"] = self.format_box.currentData()
        for field, combo in self.column_boxes.items():
            value = combo.currentData()
            if value is not None and value != self.detected.get(field):
                key = "prompt_columns" if field == "prompt_column" else field
                overrides[key] = [value] if key == "prompt_columns" else value
        source = Path(self.path_edit.text().strip()).expanduser()
        self.preview.setHtml(preview_html(self.head_model.frame, source, overrides))

    def _build_options(self) -> QGroupBox:
        box = QGroupBox("Validation and tokens")
        self.split_radio = QRadioButton("Hold out", checked=True)
        self.split_size = QDoubleSpinBox(suffix=" % of the conversations", decimals=0, minimum=1, maximum=90)
        self.split_size.setValue(10)
        self.file_radio = QRadioButton("Validation file:")
        self.validation_edit = QLineEdit(placeholderText="a file in the same layout as the data")
        browse = QPushButton("File…", toolTip="Choose the validation file")
        browse.clicked.connect(lambda: self._browse("Choose a validation file", self.validation_edit.setText))
        group = QButtonGroup(box)
        group.addButton(self.split_radio)
        group.addButton(self.file_radio)
        self.split_radio.toggled.connect(self._validate)
        self.validation_edit.textChanged.connect(lambda: self.file_radio.setChecked(True))
        self.validation_edit.textChanged.connect(self._validate)
        self.backbone_edit = QLineEdit(BUNDLED_BACKBONE)
        self.backbone_edit.setToolTip("Backbone whose tokenizer counts the tokens: hub id, name or folder")
        self.backbone_edit.textChanged.connect(self._validate)
        backbone_browse = QPushButton("Folder…", toolTip="Choose a local model folder")
        backbone_browse.clicked.connect(
            lambda: self._browse("Choose a model folder", self.backbone_edit.setText, folder=True)
        )
        self.max_length = QSpinBox(minimum=32, maximum=131072, singleStep=256, value=512)
        self.max_length.setToolTip("Token limit for the truncation statistics")
        self.chat_template = QCheckBox("Format with the backbone's chat template", checked=True)
        self.chat_template.setToolTip("Off: H2O-style text markers (<|prompt|>, <|answer|>)")
        grid = QGridLayout(box)
        grid.addWidget(self.split_radio, 0, 0)
        grid.addWidget(self.split_size, 0, 1, Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.file_radio, 1, 0)
        grid.addWidget(self.validation_edit, 1, 1)
        grid.addWidget(browse, 1, 2)
        grid.addWidget(QLabel("Backbone:"), 2, 0)
        grid.addWidget(self.backbone_edit, 2, 1)
        grid.addWidget(backbone_browse, 2, 2)
        grid.addWidget(QLabel("Max length:"), 3, 0)
        limits = QHBoxLayout()
        limits.addWidget(self.max_length)
        limits.addWidget(self.chat_template, 1)
        grid.addLayout(limits, 3, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        return box

    def set_source(self, path: str) -> None:
        """Use ``path`` as the data to import: fills the name and the columns found in its first rows."""
        path = path.strip()
        if path == self.path_edit.text() and self.detected:
            return
        self.path_edit.setText(path)
        source = Path(path).expanduser()
        if path and not self._name_edited:
            self.name_edit.setText(name_from_path(source, self.catalog))
        head = pd.DataFrame()
        self.detected = {}
        self.detection.clear()
        if path and source.exists():
            try:
                head = read_head(source)
                self.detected = self._detect(head, source)
            except Exception as err:  # any unreadable file: the import reports it in detail
                self.detection.setText(f"Could not read the first rows: {err}")
        self.head_model.set_frame(head)
        self.head_view.resizeColumnsToContents()
        for column in range(len(head.columns)):
            self.head_view.setColumnWidth(column, min(self.head_view.columnWidth(column), 260))
        self._fill_columns([str(c) for c in head.columns])
        self._update_preview()
        self._validate()

    def _detect(self, head: pd.DataFrame, source: Path) -> dict[str, str | None]:
        raw_text = is_text_source(source)
        if not raw_text and not self.format_box.isEnabled():  # the text files chosen before set it
            self.format_box.setCurrentIndex(0)
        for combo in self.column_boxes.values():
            combo.setEnabled(not raw_text)
        self.format_box.setEnabled(not raw_text)
        if raw_text:
            self.format_box.setCurrentIndex(self.format_box.findData(TEXT_FORMAT))
            count = len(text_files(source))
            self.detection.setText(
                f"Raw text: {count} text file{'s' if count != 1 else ''}, each one document, for continued "
                "pretraining (text_causal_pretraining_modeling)."
            )
            return {}
        try:
            mapping = guess_mapping(head, source)
        except DataError as err:
            column = guess_text_column(head)
            hint = f" For raw text, choose the format 'Raw text' (text column '{column}')." if column else ""
            self.detection.setText(f"Not detected: {err.reason}. Choose the prompt and answer columns.{hint}")
            return {}
        found = {field: getattr(mapping, field, None) for field in COLUMN_FIELDS}
        found["prompt_column"] = mapping.prompt_columns[0] if mapping.prompt_columns else None
        parts = [f"{mapping.format.value} format"]
        if mapping.prompt_columns:
            parts.append("prompt = " + " + ".join(mapping.prompt_columns))
        parts += [
            f"{COLUMN_FIELDS[k][0].lower()} = {v}" for k, v in found.items() if v and k != "prompt_column"
        ]
        self.detection.setText("Detected: " + ", ".join(parts) + f" (first {len(head)} rows)")
        return found

    def _fill_columns(self, columns: list[str]) -> None:
        for field, combo in self.column_boxes.items():
            combo.clear()
            combo.addItem(DETECT, None)
            for column in columns:
                combo.addItem(column, column)
            found = self.detected.get(field)
            combo.setCurrentIndex(max(0, combo.findData(found)) if found else 0)

    def arguments(self) -> list[str]:
        """The ``dataset import`` arguments for the current choices (columns only where they differ)."""
        args = ["dataset", "import", absolute(self.path_edit.text()), "--json"]
        args += ["--name", self.name_edit.text().strip()]
        if self.format_box.currentData():
            args += ["--format", self.format_box.currentData()]
        for field, combo in self.column_boxes.items():
            value = combo.currentData()
            if value is not None and value != self.detected.get(field):
                args += ["--" + field.replace("_", "-"), value]
        if self.file_radio.isChecked():
            args += ["--validation-file", absolute(self.validation_edit.text())]
        else:
            args += ["--validation-size", f"{self.split_size.value() / 100:g}"]
        args += [
            "--backbone",
            self.backbone_edit.text().strip(),
            "--max-length",
            str(self.max_length.value()),
        ]
        return args if self.chat_template.isChecked() else [*args, "--no-chat-template"]

    def problems(self) -> list[str]:
        """What keeps the import from starting."""
        found = []
        path = self.path_edit.text().strip()
        name = self.name_edit.text().strip()
        if not path:
            found.append("Choose a data file or folder.")
        elif not Path(path).expanduser().exists():
            found.append(f"{path} does not exist.")
        if path and not NAME_PATTERN.match(name):
            found.append(
                "The name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit."
            )
        elif name and self.catalog.has_dataset(name):
            found.append(f"A dataset named '{name}' exists already.")
        if (
            self.file_radio.isChecked()
            and not Path(self.validation_edit.text().strip()).expanduser().is_file()
        ):
            found.append("Choose an existing validation file.")
        if not self.backbone_edit.text().strip():
            found.append("Name the backbone whose tokenizer counts the tokens.")
        return found

    def _validate(self) -> None:
        problems = self.problems()
        self.import_button.setEnabled(not problems and not self.runner.is_running())
        self.import_button.setToolTip("\n".join(problems) or "Run: " + self._command_preview())

    def _command_preview(self) -> str:
        return shlex.join(["studio-desktop", *self.arguments()])

    def start_import(self) -> None:
        """Start the import in a child process (the dialog stays responsive; Cancel stops it)."""
        if self.problems() or self.runner.is_running():
            return
        self.error.clear()
        self.form.setEnabled(False)
        self.import_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.stage.setText("Importing: reading the data, counting tokens…")
        self.runner.start(self.arguments())

    def _show_progress(self, stage: str, fraction: float) -> None:
        self.progress.setRange(0, 100)
        self.progress.setValue(round(fraction * 100))
        self.stage.setText(stage)

    def _finish_run(self) -> None:
        self.progress.hide()
        self.stage.clear()
        self.form.setEnabled(True)
        self._validate()

    def _import_done(self, stdout: str) -> None:
        self._finish_run()
        try:
            self.imported_name = str(json.loads(stdout)["name"])
        except (ValueError, KeyError, TypeError):
            self.imported_name = self.name_edit.text().strip()
        self.imported.emit(self.imported_name)
        self.accept()

    def _import_failed(self, message: str) -> None:
        self._finish_run()
        self.error.setText(message)

    def _import_cancelled(self) -> None:
        self._finish_run()
        self.error.setText("Import cancelled.")
        if self._closing:
            super().reject()

    def reject(self) -> None:
        """Cancel a running import first; close when it has stopped."""
        if self.runner.is_running():
            self._closing = True
            self.stage.setText("Cancelling…")
            self.runner.cancel()
            return
        super().reject()

    def _name_typed(self) -> None:
        self._name_edited = True

    def _browse(self, title: str, apply: Callable[[str], object], folder: bool = False) -> None:
        """Ask for a file (or folder) and hand the chosen path to ``apply``."""
        if folder:
            path = QFileDialog.getExistingDirectory(self, title)
        else:
            path, _ = QFileDialog.getOpenFileName(self, title, "", DATA_FILTER)
        if path:
            apply(path)
