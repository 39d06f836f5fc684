"""Start the desktop application."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from studio_desktop.core.resources import resources_dir
from studio_desktop.jobs.workdir import Workdir, open_workdir

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def has_display() -> bool:
    """Whether Qt can open a window here (a display server, or a platform chosen explicitly)."""
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def app_icon():
    """The application icon from the PNGs in ``resources/icons`` (no SVG plugin needed)."""
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(resources_dir() / "icons" / f"studio-desktop-{size}.png"))
    return icon


def close_on_terminate(window) -> None:
    """SIGTERM or SIGINT closes the window as the close button does (the app then exits with 0).

    A Python signal handler only runs when the interpreter gets control, so a timer wakes it while Qt waits.
    """
    from PySide6.QtCore import QTimer

    def request_close(_signum, _frame) -> None:
        QTimer.singleShot(0, window.close)

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, request_close)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def catalog_usable(
    workdir: Workdir, ask: Callable[[str], bool] | None = None, tell: Callable[[str], None] | None = None
) -> bool:
    """Whether the catalogue opens; a damaged one is repaired when the user agrees (``ask``: a Yes/No
    question) and what the repair did is told (``tell``); both are message boxes by default."""
    from PySide6.QtWidgets import QMessageBox

    from studio_desktop.core.errors import CatalogDamagedError
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.repair import repair_catalog

    try:
        Catalog(workdir.catalog_path)
        return True
    except CatalogDamagedError as error:
        question = f"{error}\n\nRepair it now? The damaged file is renamed, not deleted."
    if ask is None:

        def ask(text: str) -> bool:
            buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
            return (
                QMessageBox.question(None, "Studio Desktop", text, buttons) == QMessageBox.StandardButton.Yes
            )

    if not ask(question):
        return False
    report = repair_catalog(workdir)
    (tell or (lambda text: QMessageBox.information(None, "Studio Desktop", text)))("\n".join(report.lines()))
    return True


def run_gui(workdir_override: str | None) -> int:
    """Open the main window and run the event loop until it closes."""
    if not has_display():
        print(
            "error: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Start the app from a desktop "
            "session, or use the command line: 'studio-desktop --help'.",
            file=sys.stderr,
        )
        return 1
    from PySide6.QtWidgets import QApplication

    from studio_desktop.gui.error_dialog import install_excepthook
    from studio_desktop.gui.main_window import MainWindow
    from studio_desktop.gui.theme import apply_theme

    workdir = open_workdir(workdir_override)
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Studio Desktop")
    app.setOrganizationName("studio-desktop")
    app.setDesktopFileName("studio-desktop")  # matches the installed .desktop entry (taskbar icon on Wayland)
    app.setWindowIcon(app_icon())
    apply_theme(app)
    install_excepthook(app, workdir)
    if not catalog_usable(workdir):
        return 1
    window = MainWindow(workdir)
    window.show()
    close_on_terminate(window)
    window.start_first_run()
    return app.exec()
