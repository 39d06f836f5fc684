"""Run one ``studio-desktop`` command in a child process and report its progress and outcome."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from studio_desktop.jobs.launcher import app_command

PROGRESS_LINE = re.compile(r"^\[[#-]*\]\s*(\d{1,3})%\s*(.*)$")
ERROR_PREFIX = "error: "
KILL_GRACE_MS = 3000


def parse_progress(line: str) -> tuple[str, float] | None:
    """``(stage, fraction)`` of a progress line such as ``[####------] 40% Loading tokenizer``."""
    match = PROGRESS_LINE.match(line.strip())
    if match is None:
        return None
    return match.group(2).strip(), min(100, int(match.group(1))) / 100.0


def error_message(stderr: str, exit_code: int, command: str) -> str:
    """The CLI's ``error: ...`` paragraph without its prefix, else a short note on how the command ended."""
    lines = stderr.replace("\r", "\n").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(ERROR_PREFIX)]
    if starts:
        paragraph = [lines[starts[-1]][len(ERROR_PREFIX) :], *lines[starts[-1] + 1 :]]
        return "\n".join(line for line in paragraph if line.strip()).strip()
    last = next((line.strip() for line in reversed(lines) if line.strip() and not line.startswith(" ")), "")
    detail = f": {last}" if last and not last.startswith("Traceback") else ""
    return f"'{command}' stopped with exit code {exit_code}{detail}"


class CommandRunner(QObject):
    """One ``studio-desktop`` command at a time in a QProcess (the GUI thread never waits on it).

    ``progress`` carries the stage and fraction of each progress line the command writes on stderr;
    exactly one of ``finished_ok`` (with stdout), ``failed`` (with the error message) or ``cancelled``
    follows each ``start``.
    """

    progress = Signal(str, float)
    finished_ok = Signal(str)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, workdir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workdir = workdir
        self.arguments: list[str] = []
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._pending = ""
        self._cancelling = False
        self._process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        environment.insert("PYTHONIOENCODING", "utf-8")
        self._process.setProcessEnvironment(environment)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._finished)
        self._process.errorOccurred.connect(self._error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.setInterval(KILL_GRACE_MS)
        self._kill_timer.timeout.connect(self._process.kill)

    @property
    def command_line(self) -> str:
        """The command as a user would type it."""
        return shlex.join(["studio-desktop", *self.arguments])

    def is_running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def start(self, arguments: Sequence[str]) -> None:
        """Start ``studio-desktop [--workdir DIR] ARGUMENTS``; refused while a command runs."""
        if self.is_running():
            raise RuntimeError("a command is already running")
        self.arguments = list(arguments)
        self._stdout.clear()
        self._stderr.clear()
        self._pending = ""
        self._cancelling = False
        program, *args = app_command(self.arguments, self.workdir)
        self._process.start(program, args)

    def cancel(self) -> None:
        """Ask the command to stop (SIGTERM), and kill it if it is still running after a grace period."""
        if not self.is_running():
            return
        self._cancelling = True
        self._process.terminate()
        self._kill_timer.start()

    def _read_stdout(self) -> None:
        self._stdout += self._process.readAllStandardOutput().data()

    def _read_stderr(self) -> None:
        chunk = self._process.readAllStandardError().data()
        self._stderr += chunk
        self._pending += chunk.decode("utf-8", errors="replace").replace("\r", "\n")
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            parsed = parse_progress(line)
            if parsed is not None:
                self.progress.emit(*parsed)

    def _finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self._read_stderr()
        if self._cancelling:
            self.cancelled.emit()
            return
        stderr = self._stderr.decode("utf-8", errors="replace")
        if status == QProcess.ExitStatus.NormalExit and exit_code == 0:
            self.finished_ok.emit(self._stdout.decode("utf-8", errors="replace"))
        elif status == QProcess.ExitStatus.CrashExit:
            self.failed.emit(f"'{self.command_line}' stopped unexpectedly (it crashed or was killed).")
        else:
            self.failed.emit(error_message(stderr, exit_code, self.command_line))

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed.emit(f"could not start '{self.command_line}': {self._process.errorString()}")
