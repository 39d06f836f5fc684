"""The Datasets tab: imported datasets, their rows, a formatted sample and token-length insights."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.data.documents import TEXT_FORMAT
from studio_desktop.core.errors import CatalogError
from studio_desktop.gui.dialogs.import_dataset import ImportDatasetDialog
from studio_desktop.gui.dialogs.import_support import dropped_data_path
from studio_desktop.gui.models.dataframe_model import (
    DataFrameModel,
    conversations_frame,
    documents_frame,
    records_frame,
)
from studio_desktop.gui.widgets.dataset_views import InsightsPanel, legend_html, sample_html
from studio_desktop.jobs.catalog import Catalog, DatasetRecord
from studio_desktop.jobs.datasets import delete_dataset, load_meta, split_files
from studio_desktop.jobs.workdir import Workdir

DATA_PAGE_SIZE = 200
EMPTY_TEXT = (
    "No datasets yet.\n\nImport a CSV, TSV, Parquet, JSON or JSONL file (or a folder saved with "
    "datasets' save_to_disk), or drop one onto this tab."
)


class DatasetsTab(QWidget):
    """Datasets list with Import / Delete / New experiment, and details of the selected dataset.

    ``confirm(title, text) -> bool`` and ``warn(title, text)`` are attributes (message boxes by default) so
    that they can be replaced where no modal dialog is wanted.
    """

    new_experiment = Signal(str)
    datasets_changed = Signal()

    def __init__(self, workdir: Workdir, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workdir = workdir
        self.catalog = catalog
        self.records: list[DatasetRecord] = []
        self.meta: dict[str, Any] | None = None
        self.import_dialog: ImportDatasetDialog | None = None
        self.total_train = 0
        self.confirm: Callable[[str, str], bool] = self._ask
        self.warn: Callable[[str, str], None] = lambda title, text: QMessageBox.warning(self, title, text)
        self.setAcceptDrops(True)
        self.list_model = DataFrameModel(records_frame([]), page_size=100_000, parent=self)
        self.table = QTableView()
        self.table.setModel(self.list_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._show_selected)
        self.details = QStackedWidget()
        self.placeholder = QLabel(EMPTY_TEXT)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.details.addWidget(self.placeholder)
        self.details.addWidget(self._build_details())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([170, 480])
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_buttons())
        layout.addWidget(splitter, 1)
        self.refresh()

    def _build_buttons(self) -> QHBoxLayout:
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Import a data file as a dataset (or drop a file onto this tab)")
        self.import_button.clicked.connect(self._import_clicked)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected dataset and its files")
        self.delete_button.clicked.connect(self.delete_selected)
        self.experiment_button = QPushButton("New experiment from this dataset")
        self.experiment_button.setToolTip("Create an experiment that trains on the selected dataset")
        self.experiment_button.clicked.connect(self._new_experiment)
        row = QHBoxLayout()
        for button in (self.import_button, self.delete_button, self.experiment_button):
            row.addWidget(button)
        row.addStretch(1)
        return row

    def _build_details(self) -> QWidget:
        page = QWidget()
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_tabs = QTabWidget()
        self.detail_tabs.addTab(self._build_data_page(), "Train data")
        self.detail_tabs.addTab(self._build_sample_page(), "Formatted sample")
        self.detail_tabs.addTab(self._build_insights_page(), "Insights")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.detail_tabs, 1)
        return page

    def _build_data_page(self) -> QWidget:
        self.data_model = DataFrameModel(page_size=DATA_PAGE_SIZE, parent=self)
        self.data_model.page_changed.connect(self._show_page)
        self.data_view = QTableView()
        self.data_view.setModel(self.data_model)
        self.data_view.setWordWrap(False)
        self.data_view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.data_view.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.previous_button = QPushButton("◀ Previous", toolTip="Previous page of rows")
        self.previous_button.clicked.connect(lambda: self.data_model.set_page(self.data_model.page - 1))
        self.next_button = QPushButton("Next ▶", toolTip="Next page of rows")
        self.next_button.clicked.connect(lambda: self.data_model.set_page(self.data_model.page + 1))
        self.page_label = QLabel()
        pager = QHBoxLayout()
        pager.addWidget(self.page_label, 1)
        pager.addWidget(self.previous_button)
        pager.addWidget(self.next_button)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.data_view, 1)
        layout.addLayout(pager)
        return page

    def _build_sample_page(self) -> QWidget:
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.sample_view = QTextBrowser()
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.legend)
        layout.addWidget(self.sample_view, 1)
        return page

    def _build_insights_page(self) -> QWidget:
        self.insights_panel = InsightsPanel()
        self.insights = self.insights_panel.label
        self.plots = self.insights_panel.plots
        self.bars = self.insights_panel.bars
        return self.insights_panel

    def refresh(self) -> None:
        """Reload the list from the catalogue, keeping the selection where the dataset still exists."""
        current = self.selected_name()
        self.meta = None
        self.records = self.catalog.datasets()
        self.list_model.set_frame(records_frame(self.records))
        self.table.resizeColumnsToContents()
        names = [r.name for r in self.records]
        if not self.select_dataset(current if current in names else (names[0] if names else "")):
            self._show_record(None)

    def selected_name(self) -> str | None:
        """The name of the selected dataset, if any."""
        row = self.table.currentIndex().row()
        return self.records[row].name if 0 <= row < len(self.records) else None

    def select_dataset(self, name: str) -> bool:
        """Select a dataset by name and show its details; False when there is none of that name."""
        for row, record in enumerate(self.records):
            if record.name == name:
                self.table.selectRow(row)
                self.table.setCurrentIndex(self.list_model.index(row, 0))
                self._show_selected()
                return True
        return False

    def open_import_dialog(self, path: str | None = None) -> ImportDatasetDialog:
        """Open the Import dataset dialog (pre-filled with ``path``); the new dataset is selected after."""
        if self.import_dialog is not None:
            if path:
                self.import_dialog.set_source(path)
            self.import_dialog.raise_()
            return self.import_dialog
        dialog = ImportDatasetDialog(self.workdir, self.catalog, path, self)
        dialog.imported.connect(self._imported)
        dialog.finished.connect(self._dialog_closed)
        self.import_dialog = dialog
        dialog.open()
        return dialog

    def delete_selected(self) -> bool:
        """Delete the selected dataset after confirmation; refused while an experiment uses it."""
        name = self.selected_name()
        if name is None:
            return False
        users = self.catalog.experiments_using(name)
        if users:
            self.warn(
                "Dataset in use",
                f"Dataset '{name}' is used by experiment(s) {', '.join(users)}. Delete them first.",
            )
            return False
        if not self.confirm(
            "Delete dataset", f"Delete dataset '{name}' and its files? This cannot be undone."
        ):
            return False
        try:
            delete_dataset(self.catalog, name)
        except CatalogError as err:
            self.warn("Cannot delete the dataset", str(err))
            return False
        self.refresh()
        self.datasets_changed.emit()
        return True

    def _dialog_closed(self) -> None:
        if self.import_dialog is not None:
            self.import_dialog.deleteLater()
            self.import_dialog = None

    def _import_clicked(self) -> None:
        self.open_import_dialog()

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _imported(self, name: str) -> None:
        self.refresh()
        self.select_dataset(name)
        self.datasets_changed.emit()

    def _new_experiment(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.new_experiment.emit(name)

    def _show_selected(self) -> None:
        name = self.selected_name()
        record = next((r for r in self.records if r.name == name), None)
        if record is None or self.meta is None or self.meta.get("name") != record.name:
            self._show_record(record)

    def _show_record(self, record: DatasetRecord | None) -> None:
        has_record = record is not None
        self.delete_button.setEnabled(has_record)
        self.experiment_button.setEnabled(has_record)
        self.meta = None
        if record is None:
            self.placeholder.setText(EMPTY_TEXT)
            self.details.setCurrentIndex(0)
            return
        try:
            meta = load_meta(record)
            rows_of = documents_frame if meta.get("kind") == TEXT_FORMAT else conversations_frame
            frame, total = rows_of(split_files(record)["train"])
        except (OSError, ValueError, KeyError) as err:
            self.placeholder.setText(f"Cannot read dataset '{record.name}': {err}")
            self.details.setCurrentIndex(0)
            return
        self.meta = meta
        self.header.setText(self._header_html(record, meta))
        self.data_model.set_frame(frame)
        self.total_train = total
        self._show_page(0)
        self.data_view.resizeColumnsToContents()
        for column in range(self.data_model.columnCount()):
            self.data_view.setColumnWidth(column, min(self.data_view.columnWidth(column), 320))
        self.legend.setText(legend_html(meta))
        self.sample_view.setHtml(sample_html(meta["sample"]))
        self._show_statistics(meta["statistics"])
        self.details.setCurrentIndex(1)

    @staticmethod
    def _header_html(record: DatasetRecord, meta: dict[str, Any]) -> str:
        mapping = meta.get("mapping", {})
        used = [
            f"{key.rsplit('_column', 1)[0]} = {' + '.join(value) if isinstance(value, list) else value}"
            for key, value in mapping.items()
            if "_column" in key and key != "prompt_column_separator" and value not in (None, [], "")
        ]
        columns = f"columns: {html.escape('; '.join(used))} &nbsp;·&nbsp; " if used else ""
        validation = meta.get("validation")
        held_out = (
            f"{float(validation) * 100:g}% held out" if isinstance(validation, int | float) else validation
        )
        return (
            f"<b>{html.escape(record.name)}</b> &nbsp;·&nbsp; {html.escape(record.format)} &nbsp;·&nbsp; "
            f"from {html.escape(record.source)}<br>"
            f"<small>{columns}validation: {html.escape(str(held_out))}</small>"
        )

    def _show_page(self, page: int) -> None:
        model = self.data_model
        shown = len(model.frame)
        first, last = model.row_offset + 1, model.row_offset + model.rowCount()
        unit = "Documents" if self.meta and self.meta.get("kind") == TEXT_FORMAT else "Conversations"
        text = f"{unit} {first}–{last} of {shown}" if shown else f"No {unit.lower()}"
        if shown < self.total_train:
            text += f" (the first {shown} of {self.total_train} are shown)"
        self.page_label.setText(f"{text}  ·  page {page + 1} of {model.page_count}")
        self.previous_button.setEnabled(page > 0)
        self.next_button.setEnabled(page + 1 < model.page_count)

    def _show_statistics(self, stats: dict[str, Any]) -> None:
        self.insights_panel.show_statistics(stats)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if dropped_data_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        path = dropped_data_path(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.open_import_dialog(path)
