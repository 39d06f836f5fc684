"""The validation predictions of a run as a sortable table, reloaded when the CSV file changes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from studio_desktop.gui.models.dataframe_model import DataFrameModel

MAX_ROWS = 100_000
EMPTY_TEXT = "No validation predictions yet: they are written at each evaluation."


class FrameSortProxy(QSortFilterProxyModel):
    """Sorts rows by the frame's values, so numeric columns sort as numbers rather than as text."""

    def lessThan(  # noqa: N802
        self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex
    ) -> bool:
        model = self.sourceModel()
        if not isinstance(model, DataFrameModel):
            return super().lessThan(left, right)
        column = model.frame.iloc[:, left.column()]
        a = column.iat[model.row_offset + left.row()]
        b = column.iat[model.row_offset + right.row()]
        if pd.api.types.is_numeric_dtype(column.dtype):
            if pd.isna(a) or pd.isna(b):
                return bool(pd.isna(a) and not pd.isna(b))
            return bool(a < b)
        return str(a) < str(b)


class PredictionsView(QWidget):
    """``prompt``, ``target``, ``prediction`` and scores of each validation sample; click a header to sort."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = DataFrameModel(page_size=MAX_ROWS, max_chars=200, parent=self)
        self.proxy = FrameSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setToolTip("Click a column header to sort by it")
        self.status = QLabel(EMPTY_TEXT)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.table, stretch=1)
        self.path: Path | None = None
        self._stamp: tuple[int, int] | None = None

    def show_file(self, path: Path | None) -> None:
        """Show the CSV at ``path`` (None clears); it is re-read only when its mtime or size changed."""
        stamp = _file_stamp(path) if path is not None else None
        if path == self.path and stamp == self._stamp:
            return
        self.path, self._stamp = path, stamp
        frame = pd.DataFrame()
        message = EMPTY_TEXT
        if stamp is not None and path is not None:
            try:
                frame = pd.read_csv(path, keep_default_na=False)
                message = f"{len(frame)} validation samples (hover a cell for its full text)"
            except (OSError, ValueError, pd.errors.ParserError) as err:
                message = f"Cannot read {path.name}: {err}"
        for column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column].dtype):
                frame[column] = frame[column].fillna("").astype(str)
        self.model.set_frame(frame)
        self.status.setText(message)
        if len(frame.columns):
            self.table.resizeColumnsToContents()
            for column in range(len(frame.columns)):
                self.table.setColumnWidth(column, min(self.table.columnWidth(column), 320))


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
