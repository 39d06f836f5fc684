"""The Experiments tab: every run with its live status, curves, log, config and validation predictions."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.core.config_io import config_to_dict
from studio_desktop.core.errors import StudioError
from studio_desktop.gui.dialogs.export_experiment import ExportExperimentDialog
from studio_desktop.gui.models.runs import RunsModel
from studio_desktop.gui.widgets.batch_view import BatchView
from studio_desktop.gui.widgets.compare import CompareRun, CompareView
from studio_desktop.gui.widgets.curves import CurvePanel
from studio_desktop.gui.widgets.predictions import PredictionsView
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import (
    ACTIVE_STATUSES,
    Experiment,
    delete_experiment,
    rename_experiment,
)
from studio_desktop.jobs.launcher import start_training_worker
from studio_desktop.jobs.workdir import Workdir

EXPORT_TIP = "Export the selected finished experiment as a merged model or a LoRA adapter"


class ExperimentsTab(QWidget):
    """List on the left, details of the selected run on the right; the runs model follows the event files."""

    new_experiment_requested = Signal()

    def __init__(
        self, workdir: Workdir, catalog: Catalog, parent: QWidget | None = None, runs: RunsModel | None = None
    ) -> None:
        super().__init__(parent)
        self.workdir = workdir
        self.catalog = catalog
        self.runs = runs if runs is not None else RunsModel(catalog, self)
        self._kept_selection: tuple[list[str], str | None] = ([], None)
        self.workers: list[subprocess.Popen] = []
        self.confirm = self._ask
        self.export_dialog: ExportExperimentDialog | None = None
        self.compare_view: CompareView | None = None
        self.action_buttons: dict[str, QPushButton] = {}
        self.table = QTableView()
        self.table.setModel(self.runs)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.selectionModel().selectionChanged.connect(self._show_selected)
        self.runs.modelAboutToBeReset.connect(self._keep_selection)
        self.runs.modelReset.connect(self._restore_selection)
        self.runs.refreshed.connect(self._after_refresh)
        self.curves = CurvePanel()
        self.log_view = QPlainTextEdit(readOnly=True)
        self.config_view = QPlainTextEdit(readOnly=True)
        self.predictions = PredictionsView()
        self.batch_view = BatchView()
        self.details = QTabWidget()
        self.details.addTab(self.curves, "Curves")
        self.details.addTab(self.log_view, "Log")
        self.details.addTab(self.config_view, "Config")
        self.details.addTab(self.predictions, "Predictions")
        self.details.addTab(self.batch_view, "Training data")
        self.buttons = self._build_buttons()
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setSizes([480, 620])
        layout = QVBoxLayout(self)
        layout.addLayout(self.buttons)
        layout.addWidget(splitter)
        self._after_refresh()

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        actions = (
            (
                "New…",
                "Create an experiment from the settings form (Ctrl+N)",
                self.new_experiment_requested.emit,
            ),
            ("Stop", "Save a checkpoint and stop the selected run", self.stop_selected),
            ("Resume", "Continue the selected run from its last checkpoint", self.resume_selected),
            ("Rename…", "Rename the selected experiment", self.rename_selected),
            ("Delete", "Delete the selected experiment and its files", self.delete_selected),
            ("Open folder", "Show the experiment folder in the file manager", self.open_selected_folder),
            ("Export…", EXPORT_TIP, self.export_selected),
            ("Compare", "Compare the selected experiments (select two or more)", self.compare_selected),
        )
        for text, tip, slot in actions:
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, run=slot: run())
            self.action_buttons[text] = button
            row.addWidget(button)
        row.addStretch(1)
        return row

    def _request_new(self) -> None:
        self.new_experiment_requested.emit()

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Studio Desktop", question)
        return answer == QMessageBox.StandardButton.Yes

    def _error(self, message: str) -> None:
        QMessageBox.warning(self, "Studio Desktop", message)

    def selected_names(self) -> list[str]:
        """The names of every selected experiment, top to bottom."""
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.runs.runs[row].name for row in rows if row < len(self.runs.runs)]

    def selected_name(self) -> str | None:
        """The experiment the details show: the current row if it is selected, else the first selected."""
        current = self.table.currentIndex().row()
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        if current in rows and current < len(self.runs.runs):
            return self.runs.runs[current].name
        return self.runs.runs[min(rows)].name if rows else None

    def select_experiment(self, name: str) -> None:
        """Select only ``name``."""
        self.select_experiments([name], current=name)

    def select_experiments(self, names: list[str], current: str | None = None) -> None:
        """Select every experiment in ``names``; ``current`` is the one whose details are shown."""
        selection = QItemSelection()
        model = self.runs
        last = model.columnCount() - 1
        for row, run in enumerate(model.runs):
            if run.name in names:
                selection.select(model.index(row, 0), model.index(row, last))
        flags = QItemSelectionModel.SelectionFlag
        selection_model = self.table.selectionModel()
        current_row = model.row_of(current) if current else -1
        if current_row >= 0:
            selection_model.setCurrentIndex(model.index(current_row, 0), flags.NoUpdate)
        selection_model.select(selection, flags.ClearAndSelect | flags.Rows)

    def _keep_selection(self) -> None:
        self._kept_selection = (self.selected_names(), self.selected_name())

    def _restore_selection(self) -> None:
        names, current = self._kept_selection
        if names:
            self.select_experiments(names, current=current)

    def run_status(self, name: str) -> str | None:
        """The derived status of a listed run, from the events read so far (and its worker)."""
        return self.runs.status(name)

    def refresh(self) -> None:
        """Read new events of every experiment now (the runs model also does every second)."""
        self.runs.refresh()

    def _after_refresh(self) -> None:
        self.workers = [worker for worker in self.workers if worker.poll() is None]
        shown = self.selected_name()
        if shown:
            self._update_details(shown, full=False)  # status and log lines change without new events
        if self.compare_view is not None and self.compare_view.isVisible():
            self.compare_view.redraw()
        self._update_actions()

    def _show_selected(self) -> None:
        name = self.selected_name()
        if name:
            self._update_details(name, full=True)
        self._update_actions()

    def _update_actions(self) -> None:
        """Enable Export for one finished run and Compare for two or more runs, with tooltips that say why."""
        names = self.selected_names()
        status = self.run_status(names[0]) if len(names) == 1 else None
        export = self.action_buttons["Export…"]
        export.setEnabled(status == "finished")
        if status == "finished":
            export.setToolTip(EXPORT_TIP)
        elif status is None:
            export.setToolTip("Select one finished experiment to export it")
        else:
            export.setToolTip(f"Only finished experiments can be exported; {names[0]} is {status}")
        compare = self.action_buttons["Compare"]
        compare.setEnabled(len(names) >= 2)
        compare.setToolTip(
            f"Compare the {len(names)} selected experiments"
            if len(names) >= 2
            else "Select two or more experiments (Ctrl+click or Shift+click) to compare them"
        )

    def _update_details(self, name: str, full: bool) -> None:
        tracker = self.runs.tracker(name)
        if tracker is None:
            return
        self.curves.show_state(tracker.state)
        lines = [f"[{log.level}] {log.message}" for log in tracker.state.logs]
        final = tracker.state.final
        if final is not None:
            lines.append(f"[{final.KIND}] {getattr(final, 'message', '') or getattr(final, 'status', '')}")
        text = "\n".join(lines)
        if self.log_view.toPlainText() != text:
            self.log_view.setPlainText(text)
        if full and tracker.experiment.config_path.exists():
            self.config_view.setPlainText(tracker.experiment.config_path.read_text(encoding="utf-8"))
        self.predictions.show_file(tracker.experiment.predictions_path)
        self.batch_view.show_folder(tracker.experiment.path)

    def start(self, experiment: Experiment, resume: bool = False) -> None:
        """Start a worker that outlives this window (refused, with a message, while one runs it)."""
        try:
            self.workers.append(start_training_worker(self.workdir.root, experiment.path, resume=resume))
        except StudioError as err:
            self._error(str(err))
        self.refresh()
        self.select_experiment(experiment.name)

    def _selected_experiment(self) -> Experiment | None:
        name = self.selected_name()
        return Experiment(Path(self.catalog.experiment(name).path)) if name else None

    def stop_selected(self) -> None:
        experiment = self._selected_experiment()
        if experiment is not None and experiment.status() in ACTIVE_STATUSES:
            experiment.request_stop()
            self.refresh()

    def resume_selected(self) -> None:
        experiment = self._selected_experiment()
        if experiment is None:
            return
        if experiment.status() in ACTIVE_STATUSES:
            self._error(f"{experiment.name} is still running.")
            return
        experiment.stop_path.unlink(missing_ok=True)
        self.start(experiment, resume=True)

    def rename_selected(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        new, ok = QInputDialog.getText(self, "Rename experiment", "New name:", text=name)
        if ok and new and new != name:
            try:
                rename_experiment(self.workdir, self.catalog, name, new)
            except StudioError as err:
                self._error(str(err))
            self.runs.forget(name)
            self.refresh()

    def delete_selected(self) -> None:
        name = self.selected_name()
        if name is None or not self.confirm(f"Delete experiment {name} and all its files?"):
            return
        try:
            delete_experiment(self.catalog, name)
        except StudioError as err:
            self._error(str(err))
            return
        self.runs.forget(name)
        self.curves.show_state(None)
        self.predictions.show_file(None)
        self.batch_view.show_folder(None)
        self.refresh()

    def open_selected_folder(self) -> None:
        experiment = self._selected_experiment()
        if experiment is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(experiment.path)))

    def export_selected(self) -> None:
        """Open the export dialog for the selected finished experiment (it runs ``studio-desktop export``)."""
        experiment = self._selected_experiment()
        if experiment is None or experiment.status() != "finished":
            return
        self.export_dialog = ExportExperimentDialog(self.workdir.root, experiment.name, self)
        self.export_dialog.open()

    def compare_selected(self) -> None:
        """Open a CompareView of the selected experiments; its curves follow the runs live."""
        names = self.selected_names()
        if len(names) < 2:
            return
        runs = []
        for name in names:
            tracker = self.runs.tracker(name)
            try:
                config = config_to_dict(tracker.experiment.config())
            except StudioError:
                config = {}
            runs.append(CompareRun(name, tracker.state, config))
        self.compare_view = CompareView(runs, self)
        self.compare_view.show()
