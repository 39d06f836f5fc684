"""Start the desktop application."""

from __future__ import annotations

import os
import sys

from studio_desktop.jobs.workdir import open_workdir


def has_display() -> bool:
    """Whether Qt can open a window here (a display server, or a platform chosen explicitly)."""
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


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
    apply_theme(app)
    install_excepthook(app, workdir)
    window = MainWindow(workdir)
    window.show()
    window.start_first_run()
    return app.exec()
