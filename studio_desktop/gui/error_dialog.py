"""Errors in the GUI: a dialog with a summary, expandable details and "Copy report", and an excepthook
that turns any uncaught exception into that dialog and logs it under ``<workdir>/logs/gui-errors.log``."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from studio_desktop import __version__
from studio_desktop.core.errors import StudioError
from studio_desktop.jobs.workdir import Workdir

LOG_NAME = "gui-errors.log"
LOGGER_NAME = "studio_desktop.gui.errors"
_open_dialogs: set[ErrorDialog] = set()  # keeps parentless dialogs alive until they close


def build_report(summary: str, details: str) -> str:
    """The text "Copy report" puts on the clipboard: what happened, the details, version and platform."""
    import platform

    return (
        f"Summary: {summary}\n\n"
        f"Details:\n{details.strip() or '(none)'}\n\n"
        f"Studio Desktop {__version__}\n"
        f"Python {platform.python_version()} on {platform.platform()}\n"
    )


class ErrorDialog(QDialog):
    """Summary up front; the details (a traceback, a log tail) appear on demand.

    The widget classes are imported when a dialog is made, not when the app starts (installing the hook).
    """

    def __init__(self, summary: str, details: str = "", parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import (
            QDialogButtonBox,
            QLabel,
            QPlainTextEdit,
            QPushButton,
            QStyle,
            QVBoxLayout,
        )

        super().__init__(parent)
        self.setWindowTitle("Studio Desktop: error")
        self.setMinimumWidth(520)
        self.report = build_report(summary, details)
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(32, 32))
        self.summary_label = QLabel(summary)
        self.summary_label.setWordWrap(True)
        self.details_view = QPlainTextEdit(details)
        self.details_view.setReadOnly(True)
        self.details_view.setMinimumHeight(220)
        self.details_view.setVisible(False)
        self.details_view.setToolTip("Technical details for a bug report.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.details_button = QPushButton("Show details")
        self.details_button.setCheckable(True)
        self.details_button.setEnabled(bool(details.strip()))
        self.details_button.setToolTip("Show or hide the technical details.")
        self.details_button.toggled.connect(self._toggle_details)
        self.copy_button = QPushButton("Copy report")
        self.copy_button.setToolTip("Copy the summary, details, app version and platform to the clipboard.")
        self.copy_button.clicked.connect(self.copy_report)
        self.buttons.addButton(self.details_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(icon)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.details_view, 1)
        layout.addWidget(self.buttons)

    def _toggle_details(self, shown: bool) -> None:
        self.details_view.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Show details")
        self.adjustSize()

    def copy_report(self) -> None:
        """Put the report on the clipboard."""
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(self.report)
        self.copy_button.setText("Copied")


def show_error(parent: QWidget | None, summary: str, details: str = "") -> ErrorDialog:
    """Open the error dialog (non-blocking, deleted on close) and return it."""
    dialog = ErrorDialog(summary, details, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    _open_dialogs.add(dialog)
    dialog.finished.connect(lambda _result: _open_dialogs.discard(dialog))
    dialog.open()
    return dialog


def error_logger(log_dir: Path) -> logging.Logger:
    """A logger appending to ``log_dir/gui-errors.log`` (one handler, however often this is called)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    path = (log_dir / LOG_NAME).resolve()
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            return logger
        logger.removeHandler(handler)
        handler.close()
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], None]


def install_excepthook(app: QApplication, workdir: Workdir) -> ExceptHook:
    """Show uncaught GUI exceptions in the error dialog and log them to ``<workdir>/logs/gui-errors.log``.

    A StudioError shows its message only (it is meant for the user); anything else shows a short summary
    with the traceback as details. Ctrl+C (KeyboardInterrupt) still quits. Returns the previous hook.
    """
    log_dir = workdir.logs
    logger = error_logger(log_dir)
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, tb)
            return
        details = "".join(traceback.format_exception(kind, error, tb))
        logger.error("uncaught exception\n%s", details)
        if isinstance(error, StudioError):
            summary = str(error)
        else:
            summary = f"Something went wrong: {kind.__name__}: {error}".rstrip(": ")
            summary += f"\n\nThe details were saved in {log_dir / LOG_NAME}."
        # Show it from the event loop: the hook may run inside a slot or while a dialog is closing.
        QTimer.singleShot(0, app, lambda: show_error(app.activeWindow(), summary, details))

    sys.excepthook = hook
    return previous
