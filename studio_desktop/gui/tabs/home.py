"""Home: what the app does, how busy this computer is, and the latest experiments and datasets."""

from __future__ import annotations

import html
from collections import Counter
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.gui.widgets.system_monitor import SystemMonitor
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.workdir import Workdir

RECENT_LIMIT = 50
# Shown groups of derived statuses, with the color of their count.
STATUS_GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "Running": (("starting", "running", "stopping"), "#2563eb"),
    "Finished": (("finished",), "#16a34a"),
    "Stopped": (("stopped",), "#d97706"),
    "Failed": (("failed",), "#dc2626"),
    "Crashed": (("crashed",), "#9f1239"),
    "Not started": (("created",), "#6b7280"),
}
STATUS_LABELS = {
    "created": "not started",
    "starting": "starting",
    "running": "running",
    "stopping": "stopping",
    "finished": "finished",
    "stopped": "stopped",
    "failed": "failed",
    "crashed": "crashed",
}
DEMO_TOOLTIP = (
    "Fine-tune the bundled small model on the demo dataset with the default settings, to see training, "
    "charts and chat once from start to end."
)
WELCOME = (
    "Fine-tune language models on this computer, offline. Import a dataset, create an experiment from a "
    "backbone, watch it train, then chat with the result and export it."
)


def format_created(value: str) -> str:
    """An ISO 8601 UTC time as local ``YYYY-MM-DD HH:MM`` (unparseable text is shown as is)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def make_list(columns: tuple[str, ...], tooltip: str) -> QTreeWidget:
    """A flat, sortable-looking list of rows with the first column stretched."""
    tree = QTreeWidget()
    tree.setColumnCount(len(columns))
    tree.setHeaderLabels(list(columns))
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setToolTip(tooltip)
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, len(columns)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return tree


class StatusCount(QFrame):
    """A number above its caption, e.g. ``3`` / ``Finished``."""

    def __init__(self, caption: str, color: str, tooltip: str) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(tooltip)
        self.color = color
        self.number = QLabel("0")
        self.number.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.number.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.number.setFont(font)
        self.caption = QLabel(caption)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(0)
        layout.addWidget(self.number)
        layout.addWidget(self.caption)

    def set_count(self, count: int) -> None:
        self.number.setText(str(count))
        color = self.color if count else self.palette().color(self.foregroundRole()).name()
        self.number.setStyleSheet(f"color: {color};" if count else "")


class HomeTab(QWidget):
    """The first page: welcome, first-run progress, experiment counts, recent lists and the system monitor.

    Call :meth:`refresh` when the catalogue or an experiment changed. Nothing here starts work: the
    signals ask the window to open a dataset or experiment, or to start the demo experiment.
    """

    open_dataset = Signal(str)
    open_experiment = Signal(str)
    start_demo = Signal()

    def __init__(self, workdir: Workdir, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workdir = workdir
        self.catalog = catalog
        self.counts: dict[str, int] = dict.fromkeys(STATUS_GROUPS, 0)
        self.monitor = SystemMonitor(workdir.root)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(10)
        layout.addLayout(self._build_header())
        layout.addWidget(self._build_first_run())
        lists = QHBoxLayout()
        lists.setSpacing(12)
        lists.addWidget(self._build_experiments(), 3)
        lists.addWidget(self._build_datasets(), 2)
        layout.addLayout(lists, 1)
        system = QGroupBox("This computer")
        system_layout = QVBoxLayout(system)
        system_layout.addWidget(self.monitor)
        layout.addWidget(system)
        self.refresh()
        self.monitor.start()

    def _build_header(self) -> QHBoxLayout:
        title = QLabel("Welcome to Studio Desktop")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.7)
        font.setWeight(QFont.Weight.DemiBold)
        title.setFont(font)
        description = QLabel(WELCOME)
        description.setWordWrap(True)
        self.workdir_label = QLabel(f"Working directory: <code>{html.escape(str(self.workdir.root))}</code>")
        self.workdir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.workdir_label.setToolTip(
            "Datasets, experiments, models and exports live here. Choose another with --workdir or "
            "STUDIO_DESKTOP_WORKDIR."
        )
        text = QVBoxLayout()
        text.setSpacing(4)
        for widget in (title, description, self.workdir_label):
            text.addWidget(widget)
        self.demo_button = QPushButton("Start the demo experiment")
        self.demo_button.setDefault(True)
        self.demo_button.setMinimumHeight(36)
        self.demo_button.setToolTip(DEMO_TOOLTIP)
        self.demo_button.clicked.connect(self.start_demo)
        header = QHBoxLayout()
        header.addLayout(text, 1)
        header.addWidget(self.demo_button, 0, Qt.AlignmentFlag.AlignTop)
        return header

    def _build_first_run(self) -> QFrame:
        self.first_run = QFrame()
        self.first_run.setFrameShape(QFrame.Shape.StyledPanel)
        self.first_run_label = QLabel()
        self.first_run_label.setWordWrap(True)
        self.first_run_progress = QProgressBar()
        self.first_run_progress.setRange(0, 0)
        self.first_run_progress.setMaximumWidth(180)
        self.first_run_progress.setTextVisible(False)
        self.first_run_progress.setToolTip("Preparing the bundled model and the demo dataset")
        row = QHBoxLayout(self.first_run)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.first_run_label, 1)
        row.addWidget(self.first_run_progress)
        self.first_run.hide()
        return self.first_run

    def _build_experiments(self) -> QGroupBox:
        box = QGroupBox("Experiments")
        counts = QHBoxLayout()
        counts.setSpacing(6)
        self.count_widgets: dict[str, StatusCount] = {}
        for caption, (statuses, color) in STATUS_GROUPS.items():
            widget = StatusCount(caption, color, f"Experiments whose status is {' or '.join(statuses)}")
            self.count_widgets[caption] = widget
            counts.addWidget(widget)
        self.experiments = make_list(
            ("Name", "Status", "Dataset", "Created"), "Double-click an experiment to open it."
        )
        self.experiments.itemActivated.connect(lambda item: self.open_experiment.emit(item.text(0)))
        self.experiments_empty = QLabel(
            "No experiments yet. Start the demo experiment, or create one in the Experiments tab."
        )
        self.experiments_empty.setWordWrap(True)
        layout = QVBoxLayout(box)
        layout.addLayout(counts)
        layout.addWidget(self.experiments, 1)
        layout.addWidget(self.experiments_empty, 1, Qt.AlignmentFlag.AlignTop)
        return box

    def _build_datasets(self) -> QGroupBox:
        box = QGroupBox("Datasets")
        self.datasets = make_list(
            ("Name", "Conversations", "Created"), "Double-click a dataset to see its rows and statistics."
        )
        self.datasets.itemActivated.connect(lambda item: self.open_dataset.emit(item.text(0)))
        self.datasets_empty = QLabel("No datasets yet. Import one in the Datasets tab.")
        self.datasets_empty.setWordWrap(True)
        layout = QVBoxLayout(box)
        layout.addWidget(self.datasets, 1)
        layout.addWidget(self.datasets_empty, 1, Qt.AlignmentFlag.AlignTop)
        return box

    def refresh(self, known: dict[str, str] | None = None) -> None:
        """Reread the catalogue and every experiment's derived status; ``known`` holds statuses derived
        already (the Experiments tab's, from the events it follows), the others are read from the files."""
        experiments = self.catalog.experiments()
        statuses = {r.name: known[r.name] for r in experiments if known and r.name in known}
        if len(statuses) < len(experiments):  # the experiment module (config, YAML) only when needed
            from studio_desktop.jobs.experiment import Experiment

            for record in experiments:
                if record.name not in statuses:
                    statuses[record.name] = Experiment(Path(record.path)).status()
        by_status = Counter(statuses.values())
        for caption, (members, _color) in STATUS_GROUPS.items():
            self.counts[caption] = sum(by_status[status] for status in members)
            self.count_widgets[caption].set_count(self.counts[caption])
        self.experiments.clear()
        for record in experiments[:RECENT_LIMIT]:
            status = STATUS_LABELS.get(statuses[record.name], statuses[record.name])
            item = QTreeWidgetItem(
                [record.name, status, record.dataset or "", format_created(record.created)]
            )
            item.setToolTip(0, f"{record.backbone} · {record.problem_type}")
            self.experiments.addTopLevelItem(item)
        self.experiments.setVisible(bool(experiments))
        self.experiments_empty.setVisible(not experiments)
        datasets = self.catalog.datasets()
        self.datasets.clear()
        for record in datasets[:RECENT_LIMIT]:
            item = QTreeWidgetItem([record.name, str(record.conversations), format_created(record.created)])
            item.setToolTip(0, f"{record.format} · {record.rows} rows · from {record.source}")
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.datasets.addTopLevelItem(item)
        self.datasets.setVisible(bool(datasets))
        self.datasets_empty.setVisible(not datasets)

    def set_first_run_message(self, text: str, busy: bool) -> None:
        """Show progress of the first-run preparation; an empty text hides the area.

        While ``busy`` the demo button waits, since the demo needs the bundled model.
        """
        self.first_run_label.setText(text)
        self.first_run_progress.setVisible(busy)
        self.first_run.setVisible(bool(text))
        self.demo_button.setEnabled(not busy)
        self.demo_button.setToolTip("Available once the bundled model is ready." if busy else DEMO_TOOLTIP)
