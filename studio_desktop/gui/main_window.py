"""The main window: Home, Datasets, Experiments and Chat tabs, a menu and a status bar."""

from __future__ import annotations

from PySide6.QtCore import QProcess, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QMainWindow,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.datasets import DEMO_DONE_KEY
from studio_desktop.jobs.launcher import app_command
from studio_desktop.jobs.workdir import Workdir

DATASET_COLUMNS = ("Name", "Format", "Rows", "Conversations", "Train", "Validation", "Created")


class MainWindow(QMainWindow):
    """Composition of the tabs; the work itself happens in the core and in child processes."""

    def __init__(self, workdir: Workdir) -> None:
        super().__init__()
        self.workdir = workdir
        self.catalog = Catalog(workdir.catalog_path)
        self.setWindowTitle("Studio Desktop")
        self.resize(1100, 720)
        self.tabs = QTabWidget()
        self.home = QLabel()
        self.home.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.home.setWordWrap(True)
        self.home.setMargin(16)
        self.datasets = QTableWidget(0, len(DATASET_COLUMNS))
        self.datasets.setHorizontalHeaderLabels(DATASET_COLUMNS)
        self.datasets.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.datasets.horizontalHeader().setStretchLastSection(True)
        self.datasets.verticalHeader().hide()
        self.datasets.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tabs.addTab(self.home, "Home")
        self.tabs.addTab(self.datasets, "Datasets")
        self.tabs.addTab(
            self._note("Experiments: 'studio-desktop config defaults' shows every setting."), "Experiments"
        )
        self.tabs.addTab(self._note("Chat with a fine-tuned model or a backbone."), "Chat")
        self.setCentralWidget(self.tabs)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.first_run = QProcess(self)
        self.first_run.finished.connect(self._first_run_finished)
        self.first_run.readyReadStandardError.connect(self._first_run_output)
        self._build_menus()
        self.refresh()

    @staticmethod
    def _note(text: str) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        label = QLabel(text)
        label.setWordWrap(True)
        layout.addWidget(label)
        layout.addStretch(1)
        return page

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Studio Desktop", self, triggered=lambda: self.tabs.setCurrentIndex(0))
        help_menu.addAction(about)

    def refresh(self) -> None:
        """Redraw everything that comes from the catalogue."""
        records = self.catalog.datasets()
        self.datasets.setRowCount(len(records))
        for row, r in enumerate(records):
            values = (
                r.name,
                r.format,
                r.rows,
                r.conversations,
                r.train_conversations,
                r.validation_conversations,
                r.created,
            )
            for column, value in enumerate(values):
                self.datasets.setItem(row, column, QTableWidgetItem(str(value)))
        self.home.setText(
            "<h2>Welcome to Studio Desktop</h2>"
            "<p>Fine-tune language models on this computer, offline.</p>"
            f"<p>Datasets: <b>{len(records)}</b><br>Working directory: <code>{self.workdir.root}</code></p>"
        )

    def start_first_run(self) -> None:
        """Convert the bundled backbone and import the demo dataset in a child process, once."""
        if self.catalog.get_setting(DEMO_DONE_KEY, False):
            return
        program, *args = app_command(["init"], self.workdir.root)
        self.statusBar().showMessage("Preparing the bundled model and the demo dataset…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.first_run.start(program, args)

    def _first_run_output(self) -> None:
        text = bytes(self.first_run.readAllStandardError().data()).decode(errors="replace").strip()
        if text:
            self.statusBar().showMessage(text.splitlines()[-1].strip("\r"))

    def _first_run_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self.progress.hide()
        ok = exit_code == 0
        self.statusBar().showMessage(
            "Ready" if ok else "Preparing the demo failed: see 'studio-desktop init'"
        )
        self.refresh()
