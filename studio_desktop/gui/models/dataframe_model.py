"""A read-only, paged table model over a pandas DataFrame."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from studio_desktop.jobs.catalog import DatasetRecord

ELLIPSIS = "…"
HEAD_ROWS = 50
JSON_PREVIEW_MAX_BYTES = 32 * 1024 * 1024
DATASET_COLUMNS = ("Name", "Format", "Rows", "Conversations", "Train", "Validation", "Created")
CONVERSATION_COLUMNS = ("conversation", "system", "turns", "prompt", "answer")
AnyIndex = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()


def elide(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, the last one an ellipsis when anything was cut."""
    return text if len(text) <= max_chars else text[: max(0, max_chars - 1)] + ELLIPSIS


def read_head(path: Path, rows: int = HEAD_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of a data file or ``save_to_disk`` folder, read without loading it all; of
    raw text (a text file or a folder of them), its first documents."""
    from studio_desktop.core.data.documents import is_text_source, read_text_files

    if is_text_source(path):
        documents = read_text_files(path, limit=rows).documents
        return documents_frame_of(documents)
    suffix = path.suffix.lower()
    if path.is_dir():
        import pyarrow as pa

        arrows = sorted(path.rglob("*.arrow"), key=lambda p: ("train" not in p.parts, str(p)))
        if not arrows:
            raise ValueError("the folder holds no .arrow files")
        with pa.memory_map(str(arrows[0])) as source:
            return pa.ipc.open_stream(source).read_next_batch().slice(0, rows).to_pandas()
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(
            path,
            sep="\t" if suffix == ".tsv" else None,
            engine="python",
            nrows=rows,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            encoding_errors="replace",
        ).rename(columns=lambda c: str(c).strip())
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
        return batch.to_pandas() if batch is not None else pd.DataFrame()
    if suffix in (".jsonl", ".ndjson"):
        records = []
        with path.open(encoding="utf-8-sig", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    records.append(_json_line(line, number))
                if len(records) >= rows:
                    break
        return pd.DataFrame(records)
    if suffix == ".json":
        if path.stat().st_size > JSON_PREVIEW_MAX_BYTES:
            raise ValueError("the file is too large to preview; the import reads it in full")
        document = json.loads(path.read_text(encoding="utf-8-sig", errors="replace"))
        if isinstance(document, dict):
            document = next((v for v in document.values() if isinstance(v, list)), [])
        return pd.DataFrame(document[:rows])
    raise ValueError(f"unsupported file type '{path.suffix or path.name}'")


def _json_line(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"line {number} is not valid JSON ({err.msg})") from None


def documents_frame_of(documents: list[Any]) -> pd.DataFrame:
    """Documents one row each: where each came from, its length and its text."""
    return pd.DataFrame(
        {
            "document": [d.source for d in documents],
            "characters": [len(d.text) for d in documents],
            "text": [d.text for d in documents],
        }
    )


def documents_frame(path: Path, limit: int = 50_000) -> tuple[pd.DataFrame, int]:
    """The first ``limit`` documents of a stored raw-text split and the split's total count."""
    from studio_desktop.core.data.documents import read_documents

    documents = read_documents(path)
    return documents_frame_of(documents[:limit]), len(documents)


def conversations_frame(path: Path, limit: int = 50_000) -> tuple[pd.DataFrame, int]:
    """The first ``limit`` conversations of a stored split, one row each, and the split's total count.

    Columns: conversation id, system prompt, turns, the last user message and the final answer.
    """
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    rows: dict[str, list[Any]] = {column: [] for column in CONVERSATION_COLUMNS}
    for batch in file.iter_batches(
        batch_size=min(limit, 10_000), columns=["conversation_id", "system", "messages"]
    ):
        data = batch.to_pydict()
        for cid, system, messages in zip(
            data["conversation_id"], data["system"], data["messages"], strict=True
        ):
            if len(rows["conversation"]) >= limit:
                break
            rows["conversation"].append(cid)
            rows["system"].append(system or "")
            rows["turns"].append(len(messages) // 2)
            rows["prompt"].append(next((m["content"] for m in reversed(messages) if m["role"] == "user"), ""))
            rows["answer"].append(messages[-1]["content"] if messages else "")
        if len(rows["conversation"]) >= limit:
            break
    return pd.DataFrame(rows), file.metadata.num_rows


def records_frame(records: list[DatasetRecord]) -> pd.DataFrame:
    """The dataset list as a frame with the columns the table shows."""
    rows = [
        (r.name, r.format, r.rows, r.conversations, r.train_conversations, r.validation_conversations)
        for r in records
    ]
    rows = [(*row, format_created(r.created)) for row, r in zip(rows, records, strict=True)]
    return pd.DataFrame(rows, columns=list(DATASET_COLUMNS))


def format_created(created: str) -> str:
    """An ISO time stamp as local ``YYYY-MM-DD HH:MM`` (unchanged when it is not ISO)."""
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return created


class DataFrameModel(QAbstractTableModel):
    """Shows one page of a DataFrame: ``str`` of each cell, long texts elided (full text as tooltip).

    Vertical headers number the rows of the whole frame from 1, so they stay meaningful across pages.
    """

    page_changed = Signal(int)

    def __init__(
        self,
        frame: pd.DataFrame | None = None,
        *,
        page_size: int = 500,
        max_chars: int = 300,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if page_size < 1 or max_chars < 2:
            raise ValueError("page_size must be positive and max_chars at least 2")
        self._page_size = page_size
        self.max_chars = max_chars
        self._frame = pd.DataFrame()
        self._numeric: list[bool] = []
        self._page = 0
        if frame is not None:
            self.set_frame(frame)

    @property
    def frame(self) -> pd.DataFrame:
        """The whole frame (every page)."""
        return self._frame

    @property
    def page(self) -> int:
        """The page shown, counted from 0."""
        return self._page

    @property
    def page_size(self) -> int:
        """Rows per page."""
        return self._page_size

    @property
    def page_count(self) -> int:
        """Number of pages; an empty frame has one (empty) page."""
        return max(1, math.ceil(len(self._frame) / self._page_size))

    @property
    def row_offset(self) -> int:
        """Frame row of the first row on the page."""
        return self._page * self._page_size

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Show a new frame from its first page."""
        self.beginResetModel()
        self._frame = frame
        self._numeric = [pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes]
        self._page = 0
        self.endResetModel()
        self.page_changed.emit(0)

    def set_page(self, page: int) -> None:
        """Show page ``page`` (clamped to the pages there are)."""
        page = min(max(0, page), self.page_count - 1)
        if page == self._page:
            return
        self.beginResetModel()
        self._page = page
        self.endResetModel()
        self.page_changed.emit(page)

    def rowCount(self, parent: AnyIndex = ROOT) -> int:  # noqa: N802
        if parent.isValid():
            return 0
        return max(0, min(self._page_size, len(self._frame) - self.row_offset))

    def columnCount(self, parent: AnyIndex = ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._frame.columns)

    def cell_text(self, row: int, column: int) -> str:
        """The full text of a cell of the current page."""
        return str(self._frame.iat[self.row_offset + row, column])

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return elide(self.cell_text(index.row(), index.column()), self.max_chars)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.cell_text(index.row(), index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and self._numeric[index.column()]:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self._frame.columns[section]) if section < len(self._frame.columns) else None
        return str(self.row_offset + section + 1)
