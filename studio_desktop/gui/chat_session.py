"""A chat worker child process driven through JSON lines (see ``worker/chat.py`` for the protocol)."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from studio_desktop.jobs.chat_models import generate_request, stop_request
from studio_desktop.jobs.launcher import app_command, worker_environment
from studio_desktop.jobs.workdir import Workdir

STOP_GRACE_MS = 3000


class ChatSession(QObject):
    """One loaded model in its own process; answers stream back as signals."""

    ready = Signal(dict)
    delta = Signal(int, str)
    done = Signal(int, dict)
    failed = Signal(str)
    log = Signal(str)
    ended = Signal()

    def __init__(self, workdir: Workdir, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workdir = workdir
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._process_error)
        self.buffer = b""
        self.next_id = 0
        self.running: int | None = None
        self.is_ready = False
        self.error_reported = False

    def start(self, spec: str) -> None:
        """Load ``spec`` (an experiment name or a backbone) in a new worker."""
        program, *args = app_command(["worker", "chat", spec], self.workdir.root)
        self.is_ready = False
        self.error_reported = False
        environment = QProcessEnvironment.systemEnvironment()
        for key, value in worker_environment().items():
            environment.insert(key, value)
        self.process.setProcessEnvironment(environment)
        self.process.start(program, args)

    def send(self, messages: list[dict[str, str]], system: str, settings: dict[str, Any]) -> int:
        """Ask for an answer to the last user message; returns the request id."""
        self.next_id += 1
        self.running = self.next_id
        self._write(generate_request(self.next_id, messages, system, settings))
        return self.next_id

    def stop(self) -> None:
        """End the answer being generated."""
        if self.running is not None:
            self._write(stop_request(self.running))

    def close(self) -> None:
        """Let the worker finish: closing its input ends it; it is killed if it lingers."""
        if self.process.state() == QProcess.ProcessState.NotRunning:
            return
        self.process.closeWriteChannel()
        QTimer.singleShot(STOP_GRACE_MS, self._kill_if_running)

    def _kill_if_running(self) -> None:
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()

    def _write(self, message: dict[str, Any]) -> None:
        self.process.write((json.dumps(message) + "\n").encode("utf-8"))

    def _read(self) -> None:
        self.buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._handle(json.loads(line))

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "ready":
            self.is_ready = True
            self.ready.emit(message)
        elif kind == "delta":
            self.delta.emit(int(message["id"]), message["text"])
        elif kind == "done":
            self.running = None
            self.done.emit(int(message["id"]), message)
        elif kind == "error":
            self.running = None
            self.error_reported = True
            self.failed.emit(message.get("message", "the chat worker failed"))
        elif kind == "log":
            self.log.emit(message.get("message", ""))

    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self.is_ready = False
        self.running = None
        if exit_code != 0 and not self.error_reported:
            self.failed.emit(f"the chat process ended with exit code {exit_code}")
        self.ended.emit()

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed.emit("the chat process could not be started")
