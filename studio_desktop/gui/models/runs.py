"""The window's one owner of live run state: a tracker per experiment, one timer, rows that change alone.

Every second the model lists the catalogue's experiments and reads what each run's event file gained, at
most ``SLICE_BYTES`` per run at a time: a long backlog (a 200k-point run opened for the first time) is read
in slices between which the event loop runs. Only rows whose texts changed are reported (``dataChanged``);
``refreshed`` says a refresh has read every run, when views redraw. The Experiments list, Home, the status
bar and the close prompt all read this model.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from studio_desktop.core.events import FINAL_KINDS, Event
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import ACTIVE_STATUSES, Experiment
from studio_desktop.jobs.run_state import RunTracker, format_eta

COLUMNS = ("Name", "Status", "Progress", "ETA", "Train loss", "Val loss", "Best val loss", "Created")
REFRESH_MS = 1000
SLICE_BYTES = 64 * 1024  # about 400 events: 3-5 ms of parsing
Index = QModelIndex | QPersistentModelIndex


def format_number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def status_events(kept: list[Event], new: list[Event]) -> list[Event]:
    """Of a run's events so far, the ones ``Experiment.status`` looks at: the newest (by time) and the last
    final one, in that order, so that following a long run never re-reads its whole event file."""
    events = kept + new
    final = next((event for event in reversed(events) if event.KIND in FINAL_KINDS), None)
    newest = max(events, key=lambda event: event.time, default=None)
    return [event for event in (newest, final) if event is not None]


@dataclass
class Run:
    """One listed experiment: its tracker, what its status needs, and the texts of its row."""

    name: str
    created: str
    tracker: RunTracker
    status_events: list[Event]
    texts: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return self.tracker.experiment.status(self.status_events)


class RunsModel(QAbstractTableModel):
    """Every experiment of the catalogue as a row, followed live from its event file."""

    refreshed = Signal()  # one refresh of every run is complete

    def __init__(self, catalog: Catalog, parent: QObject | None = None, start: bool = True) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.runs: list[Run] = []
        self._behind: set[str] = set()  # runs with more of their event file to read
        self.timer = QTimer(self, interval=REFRESH_MS, timeout=self.refresh)
        if start:
            self.timer.start()
        self.refresh()

    # -- reading ---------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the catalogue's experiments and read one slice of new events of each run."""
        self._sync_rows()
        for run in self.runs:
            self._read_slice(run)
        self._update_texts()
        if self._behind:
            QTimer.singleShot(0, self._catch_up)  # the rest after the event loop had its turn
        else:
            self.refreshed.emit()

    def _catch_up(self) -> None:
        """One more slice of each run that is behind its file (a long backlog read a slice at a time)."""
        for run in [run for run in self.runs if run.name in self._behind]:
            self._read_slice(run)
        self._update_texts()
        if self._behind:
            QTimer.singleShot(0, self._catch_up)
        else:
            self.refreshed.emit()

    def _read_slice(self, run: Run) -> bool:
        """Read at most ``SLICE_BYTES`` of the run's new events; True when any arrived.

        The garbage collector waits meanwhile, so that the thousands of short-lived event objects a busy run
        writes per second are freed young instead of promoted and walked again by later full collections.
        """
        enabled = gc.isenabled()
        gc.disable()
        try:
            new = run.tracker.poll(SLICE_BYTES)
        finally:
            if enabled:
                gc.enable()
        if run.tracker.reader.behind:
            self._behind.add(run.name)
        else:
            self._behind.discard(run.name)
        if new:
            run.status_events = status_events(run.status_events, new)
        return bool(new)

    def _sync_rows(self) -> None:
        records = self.catalog.experiments()
        wanted = [(record.name, Path(record.path), record.created) for record in records]
        current = [(run.name, run.tracker.experiment.path, run.created) for run in self.runs]
        if wanted == current:
            return
        known = {(run.name, run.tracker.experiment.path): run for run in self.runs}
        self.beginResetModel()
        self.runs = [
            known.get((name, path)) or Run(name, created, RunTracker(Experiment(path)), [])
            for name, path, created in wanted
        ]
        self._behind &= {run.name for run in self.runs}
        for run in self.runs:
            run.texts = self._texts(run)
        self.endResetModel()

    def _update_texts(self) -> None:
        for row, run in enumerate(self.runs):
            texts = self._texts(run)
            if texts != run.texts:
                run.texts = texts
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _texts(self, run: Run) -> tuple[str, ...]:
        state = run.tracker.state
        progress = state.progress
        done = f"{progress.step}/{progress.total_steps}" if progress else "-"
        if progress and progress.total_steps:
            done += f" ({100 * progress.step // progress.total_steps}%)"
        status = run.status
        eta = format_eta(progress.eta_seconds) if progress and status in ACTIVE_STATUSES else "-"
        best = state.series.get("val/loss")
        return (
            run.name,
            status,
            done,
            eta,
            format_number(state.latest("train/loss")),
            format_number(state.latest("val/loss")),
            format_number(min(best.values) if best and best.values else None),
            run.created,
        )

    # -- what the views ask ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return [run.name for run in self.runs]

    def run(self, name: str) -> Run | None:
        return next((run for run in self.runs if run.name == name), None)

    def tracker(self, name: str) -> RunTracker | None:
        run = self.run(name)
        return run.tracker if run is not None else None

    def status(self, name: str) -> str | None:
        """The derived status of a listed run, from the events read so far (and its worker)."""
        run = self.run(name)
        return run.status if run is not None else None

    def statuses(self) -> dict[str, str]:
        return {run.name: run.texts[1] if run.texts else run.status for run in self.runs}

    def active(self) -> list[Run]:
        """The runs starting, running or stopping now."""
        return [run for run in self.runs if run.status in ACTIVE_STATUSES]

    def row_of(self, name: str) -> int:
        return next((row for row, run in enumerate(self.runs) if run.name == name), -1)

    def forget(self, name: str) -> None:
        """Drop a run's state (renamed or deleted); the next refresh lists the catalogue again."""
        row = self.row_of(name)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.runs[row]
            self._behind.discard(name)
            self.endRemoveRows()

    # -- QAbstractTableModel -----------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's name
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        return self.runs[index.row()].texts[index.column()]

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None
