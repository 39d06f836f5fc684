"""The main window: composition of the tabs, menus, shortcuts, status bar and first start.

Only the Home tab is built before the window is shown; the other tabs (and the libraries they need, such as
pandas and pyqtgraph) are built one per turn of the event loop once the first frame is drawn, or at once
when something needs them earlier (a visit, a menu action, an attribute read). Meanwhile a thread imports
the data libraries that involve no Qt, so that the window keeps answering while they load.
"""

from __future__ import annotations

import gc
import importlib
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QProcess, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QProgressBar, QTabWidget, QWidget

from studio_desktop import __version__
from studio_desktop.core.errors import StudioError
from studio_desktop.core.resources import demo_config_file, resources_dir
from studio_desktop.gui.tabs.home import HomeTab
from studio_desktop.jobs.app_settings import device_gpus, get_default_device, get_max_chart_points
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.datasets import DEMO_DONE_KEY
from studio_desktop.jobs.workdir import Workdir

if TYPE_CHECKING:
    from studio_desktop.gui.tabs.chat import ChatTab
    from studio_desktop.gui.tabs.datasets import DatasetsTab
    from studio_desktop.gui.tabs.experiments import ExperimentsTab

GEOMETRY_KEY = "window_geometry"
# Tabs built after the first paint, in this order (Experiments first: the status bar follows its runs).
LATER_TABS = {"experiments": "Experiments", "datasets": "Datasets", "chat": "Chat"}
TAB_ORDER = ("Home", "Datasets", "Experiments", "Chat")
PRELOADED = ("numpy", "pandas", "pyarrow.parquet")  # imported off the GUI thread (no Qt in them)


def preload(modules: tuple[str, ...]) -> None:
    """Import ``modules``; a failure is left to the code that imports the module for real."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            continue  # reported where the module is used


def settle() -> None:
    """Once the window is built: the objects made so far (modules, widgets, plots) leave the garbage
    collector's generations, so that a later full collection walks only what was made since (a pause of a
    few milliseconds instead of tens)."""
    gc.freeze()


class MainWindow(QMainWindow):
    """Composition only; the work happens in the core and in child processes."""

    painted = False  # set at the first paint event (events may come before __init__ ends)
    preloading: threading.Thread | None = None

    def __init__(self, workdir: Workdir) -> None:
        super().__init__()
        self.workdir = workdir
        self.catalog = Catalog(workdir.catalog_path)
        self.setWindowTitle("Studio Desktop")
        self.resize(1200, 780)
        self.home = HomeTab(workdir, self.catalog)
        self.built: dict[str, QWidget] = {}
        self.placeholders = {name: QWidget() for name in LATER_TABS}
        self.tabs = QTabWidget()
        for title in TAB_ORDER:
            name = title.lower()
            self.tabs.addTab(self.home if name == "home" else self.placeholders[name], title)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.first_run = QProcess(self)
        self.first_run.finished.connect(self._first_run_finished)
        self.first_run.readyReadStandardError.connect(self._first_run_output)
        self._connect_tabs()
        self._build_menus()
        self._statuses: dict[str, str] = {}
        self._restore_geometry()

    def _connect_tabs(self) -> None:
        self.home.open_dataset.connect(self.show_dataset)
        self.home.open_experiment.connect(self.show_experiment)
        self.home.start_demo.connect(self.start_demo)

    # -- tabs built later ----------------------------------------------------------------------------------

    @property
    def datasets(self) -> DatasetsTab:
        return self._tab("datasets")

    @property
    def experiments(self) -> ExperimentsTab:
        return self._tab("experiments")

    @property
    def chat(self) -> ChatTab:
        return self._tab("chat")

    def _tab(self, name: str):
        tab = self.built.get(name)
        if tab is None:
            tab = self.built[name] = self._build_tab(name)
            placeholder = self.placeholders.pop(name)
            index, current = self.tabs.indexOf(placeholder), self.tabs.currentIndex()
            blocked = self.tabs.blockSignals(True)  # the same page stays current: no refresh, no build
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, tab, LATER_TABS[name])
            self.tabs.setCurrentIndex(current)
            self.tabs.blockSignals(blocked)
            placeholder.deleteLater()
        return tab

    def _build_tab(self, name: str) -> QWidget:
        if name == "datasets":
            from studio_desktop.gui.tabs.datasets import DatasetsTab

            datasets = DatasetsTab(self.workdir, self.catalog)
            datasets.new_experiment.connect(self.new_experiment)
            datasets.datasets_changed.connect(self.refresh)
            return datasets
        if name == "experiments":
            from studio_desktop.gui.tabs.experiments import ExperimentsTab

            experiments = ExperimentsTab(self.workdir, self.catalog)
            experiments.curves.set_max_points(get_max_chart_points(self.catalog))
            experiments.new_experiment_requested.connect(self.new_experiment)
            experiments.runs.refreshed.connect(self._runs_refreshed)
            return experiments
        from studio_desktop.gui.tabs.chat import ChatTab

        return ChatTab(self.workdir, self.catalog)

    def _after_first_paint(self) -> None:
        self.preloading = threading.Thread(target=preload, args=(PRELOADED,), name="preload", daemon=True)
        self.preloading.start()
        self._build_next_tab()

    def _build_next_tab(self) -> None:
        """Build the system monitor's plots or one tab not built yet, then give the event loop a turn."""
        if self.preloading is not None and self.preloading.is_alive():
            QTimer.singleShot(25, self._build_next_tab)  # the window stays responsive meanwhile
            return
        pending = [name for name in LATER_TABS if name not in self.built]
        if not self.home.monitor.plots_built:
            self.home.monitor.ensure_plots()
        elif pending:
            self._tab(pending[0])
        else:
            settle()
            return
        QTimer.singleShot(0, self._build_next_tab)

    def _tab_changed(self, index: int) -> None:
        page = self.tabs.widget(index)
        for name, placeholder in list(self.placeholders.items()):
            if page is placeholder:
                self._tab(name)
        self.refresh()

    def event(self, event: QEvent) -> bool:
        if not self.painted and event.type() == QEvent.Type.Paint:
            self.painted = True
            QTimer.singleShot(0, self._after_first_paint)  # once this whole first frame is drawn
        return super().event(event)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("&Import dataset…", QKeySequence("Ctrl+I"), self.import_dataset),
            ("&New experiment…", QKeySequence("Ctrl+N"), self.new_experiment),
            ("&Load config…", QKeySequence("Ctrl+O"), self.load_config),
            ("&Settings…", QKeySequence.StandardKey.Preferences, self.open_settings),
            ("&Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self, shortcut=shortcut)
            action.triggered.connect(lambda _checked=False, run=slot: run())
            file_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        for text, slot in (
            ("&About Studio Desktop", self.about),
            ("Open &working directory", self.open_workdir),
        ):
            action = QAction(text, self)
            action.triggered.connect(lambda _checked=False, run=slot: run())
            help_menu.addAction(action)

    def refresh(self) -> None:
        """Reread the catalogue in Home, Datasets and Chat (a tab not built yet reads it when built)."""
        runs = self.experiments.runs if "experiments" in self.built else None  # it follows the runs
        self.home.refresh(runs.statuses() if runs is not None else None)
        for name in ("datasets", "chat"):
            if name in self.built:
                self.built[name].refresh()

    def show_dataset(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.datasets)
        self.datasets.select_dataset(name)

    def show_experiment(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.experiments)
        self.experiments.refresh()
        self.experiments.select_experiment(name)

    def import_dataset(self) -> None:
        self.tabs.setCurrentWidget(self.datasets)
        self.datasets.open_import_dialog()

    def new_experiment(self, dataset: str = "", base=None, yaml_path: str | None = None) -> None:
        from studio_desktop.gui.dialogs.new_experiment import NewExperimentDialog
        from studio_desktop.jobs.memory import MemoryPlanner

        if base is None and yaml_path is None:
            from studio_desktop.core.config import default_config

            values = {"environment.gpus": list(device_gpus(get_default_device(self.catalog)))}
            if dataset:
                values["dataset.train_dataframe"] = dataset
            elif datasets := self.catalog.datasets():
                values["dataset.train_dataframe"] = datasets[0].name
            base = default_config().replace(values)
        planner = MemoryPlanner(self.workdir, self.catalog)
        dialog = NewExperimentDialog(self.catalog, base, self, planner=planner.plan)
        if yaml_path:
            dialog.load(yaml_path)
        if dialog.exec() != NewExperimentDialog.DialogCode.Accepted:
            return
        self.start_experiment(dialog.config())

    def start_experiment(self, cfg) -> None:
        """Create the experiment folder and start its worker; errors are shown, never raised."""
        from studio_desktop.jobs.experiment import create_experiment

        try:
            experiment = create_experiment(self.workdir, self.catalog, cfg)
        except StudioError as err:
            QMessageBox.warning(self, "New experiment", str(err))
            return
        self.tabs.setCurrentWidget(self.experiments)
        self.experiments.start(experiment)

    def open_settings(self) -> None:
        from studio_desktop.gui.dialogs.settings import SettingsDialog

        if SettingsDialog(self.workdir, self.catalog, self).exec() and "experiments" in self.built:
            self.experiments.curves.set_max_points(get_max_chart_points(self.catalog))

    def load_config(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Load config", "", "YAML config (*.yaml *.yml)")
        if path:
            self.new_experiment(yaml_path=path)

    def start_demo(self) -> None:
        """Open the demo config in the New experiment dialog (Start runs it)."""
        self.new_experiment(yaml_path=str(demo_config_file()))

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About Studio Desktop",
            f"<b>Studio Desktop {__version__}</b><p>Fine-tune language models on this computer, offline.</p>"
            f"<p>Working directory: <code>{self.workdir.root}</code></p>",
        )

    def open_documentation(self) -> None:
        """The README shipped with the app (installation, command line, troubleshooting)."""
        readme = resources_dir().parent / "README.md"
        if readme.exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(readme)))
        else:
            self.about()

    def open_workdir(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.workdir.root)))

    def _runs_refreshed(self) -> None:
        """After the runs model read every run: the status bar, and Home when a status changed."""
        runs = self.experiments.runs
        statuses = runs.statuses()
        if statuses != self._statuses:
            self._statuses = statuses
            self.home.refresh(statuses)
        self._update_status_bar()

    def _update_status_bar(self) -> None:
        running = [(run.name, run.tracker.state.progress) for run in self.experiments.runs.active()]
        if running and self.first_run.state() == QProcess.ProcessState.NotRunning:
            name, progress = running[0]
            if progress and progress.total_steps:
                self.progress.setRange(0, progress.total_steps)
                self.progress.setValue(progress.step)
                self.progress.show()
            self.statusBar().showMessage(
                f"Training {name}" + (f" (+{len(running) - 1} more)" if len(running) > 1 else "")
            )
        elif self.first_run.state() == QProcess.ProcessState.NotRunning:
            self.progress.hide()

    # -- first start -------------------------------------------------------------------------------------

    def start_first_run(self) -> None:
        """Convert the bundled backbone and import the demo dataset in a child process, once."""
        if self.catalog.get_setting(DEMO_DONE_KEY, False):
            return
        from studio_desktop.jobs.launcher import app_command

        program, *args = app_command(["init"], self.workdir.root)
        self.home.set_first_run_message("Preparing the bundled model and the demo dataset (once)…", True)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.first_run.start(program, args)

    def _first_run_output(self) -> None:
        text = bytes(self.first_run.readAllStandardError().data()).decode(errors="replace").strip()
        if text:
            line = text.splitlines()[-1].strip("\r")
            self.statusBar().showMessage(line)
            self.home.set_first_run_message(line, True)

    def _first_run_finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self.progress.hide()
        if exit_code == 0:
            self.home.set_first_run_message("The bundled model and the demo dataset are ready.", False)
            self.statusBar().showMessage("Ready", 5000)
        else:
            self.home.set_first_run_message(
                "Preparing the demo failed; run 'studio-desktop init' to see why.", False
            )
        self.refresh()

    # -- closing -----------------------------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        saved = self.catalog.get_setting(GEOMETRY_KEY)
        if isinstance(saved, list) and len(saved) == 4:
            x, y, width, height = saved
            self.move(x, y)
            self.resize(width, height)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        running = [run.tracker.experiment for run in self.experiments.runs.active()]
        if running and not self.ask_keep_running(running):
            for experiment in running:
                experiment.request_stop()
        self.catalog.set_setting(GEOMETRY_KEY, [self.x(), self.y(), self.width(), self.height()])
        if "chat" in self.built:
            self.chat.shutdown()
        self.home.monitor.stop()
        if self.preloading is not None:
            self.preloading.join()  # no import left half done in a daemon thread while Python exits
        super().closeEvent(event)

    def ask_keep_running(self, running: list) -> bool:
        """True: keep the runs going in the background; False: stop them (each saves a checkpoint)."""
        names = ", ".join(e.name for e in running)
        box = QMessageBox(self)
        box.setWindowTitle("Training is running")
        box.setText(f"{names} {'is' if len(running) == 1 else 'are'} still training.")
        box.setInformativeText("Training runs in its own process; reopen the app later to follow it.")
        keep = box.addButton("Keep running in background", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Stop (save a checkpoint)", QMessageBox.ButtonRole.DestructiveRole)
        box.exec()
        return box.clickedButton() is keep
