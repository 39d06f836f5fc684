"""Error dialog and the GUI excepthook: summary, details on demand, copied report, log file."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QPushButton

from studio_desktop import __version__
from studio_desktop.core.errors import StudioError
from studio_desktop.gui.error_dialog import ErrorDialog, build_report, install_excepthook, show_error
from studio_desktop.jobs.workdir import Workdir, open_workdir


@pytest.fixture
def hooked(qapp: QApplication, workdir: Path) -> Iterator[Workdir]:
    """The excepthook installed on a test working directory; pytest-qt's own hook is restored after."""
    wd = open_workdir()
    previous = install_excepthook(qapp, wd)
    yield wd
    sys.excepthook = previous


def open_error_dialogs() -> list[ErrorDialog]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, ErrorDialog) and w.isVisible()]


def test_report_has_summary_details_version_and_platform() -> None:
    report = build_report("Import failed", "Traceback: boom")
    assert "Import failed" in report
    assert "Traceback: boom" in report
    assert f"Studio Desktop {__version__}" in report
    assert platform.platform() in report


def test_details_expand_and_copy_report(qtbot) -> None:
    dialog = show_error(None, "Could not open the file", "line 1\nline 2")
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    assert dialog.summary_label.text() == "Could not open the file"
    assert not dialog.details_view.isVisible()
    qtbot.mouseClick(dialog.details_button, Qt.MouseButton.LeftButton)
    assert dialog.details_view.isVisible()
    assert dialog.details_view.toPlainText() == "line 1\nline 2"
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    clipboard = QGuiApplication.clipboard().text()
    assert clipboard == dialog.report
    assert "line 2" in clipboard and __version__ in clipboard


def test_without_details_the_details_button_is_disabled(qtbot) -> None:
    dialog = ErrorDialog("Nothing more to say")
    qtbot.addWidget(dialog)
    assert not dialog.details_button.isEnabled()


def test_uncaught_exception_in_a_slot_becomes_the_dialog_and_a_log_line(qtbot, hooked: Workdir) -> None:
    button = QPushButton()
    qtbot.addWidget(button)

    def broken() -> None:
        raise ValueError("the answer is not 42")

    button.clicked.connect(broken)
    button.click()  # PySide6 passes exceptions from slots to sys.excepthook
    qtbot.waitUntil(lambda: bool(open_error_dialogs()))
    dialog = open_error_dialogs()[0]
    assert "ValueError: the answer is not 42" in dialog.summary_label.text()
    assert "gui-errors.log" in dialog.summary_label.text()
    assert "Traceback" in dialog.details_view.toPlainText()
    assert "in broken" in dialog.details_view.toPlainText()
    log = (hooked.logs / "gui-errors.log").read_text()
    assert "ValueError: the answer is not 42" in log and "in broken" in log
    dialog.close()


def test_a_studio_error_shows_its_own_message(qtbot, hooked: Workdir) -> None:
    def raise_studio_error() -> None:
        raise StudioError("the dataset 'x' is in use by experiment 'y'.")

    QTimer.singleShot(0, raise_studio_error)
    qtbot.waitUntil(lambda: bool(open_error_dialogs()))
    dialog = open_error_dialogs()[0]
    assert dialog.summary_label.text() == "the dataset 'x' is in use by experiment 'y'."
    assert "StudioError" in (hooked.logs / "gui-errors.log").read_text()
    dialog.close()
