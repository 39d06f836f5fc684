"""Following a training worker from the terminal: a progress line, log lines, the final outcome."""

from __future__ import annotations

import subprocess
import sys
import time

from studio_desktop.core.events import EventReader, Failed, Finished, Log, Metric, Progress, Started
from studio_desktop.jobs.experiment import Experiment
from studio_desktop.jobs.launcher import EXIT_WAIT
from studio_desktop.jobs.run_state import format_eta

PLAIN_PROGRESS_SECONDS = 5.0
EXIT_BY_STATUS = {"finished": 0, "failed": 1, "stopped": 2, "crashed": 1}


class Follower:
    """Prints what a worker reports until it ends; Ctrl+C asks it to stop (twice: detach).

    ``since`` is the byte offset in the event file where this worker's events begin (a resumed run's earlier
    events, including their final one, are not replayed).
    """

    def __init__(self, experiment: Experiment, process: subprocess.Popen | None, since: int = 0) -> None:
        self.experiment = experiment
        self.process = process
        self.reader = EventReader(experiment.events_path, offset=since)
        self.loss: float | None = None
        self.tty = sys.stderr.isatty()
        self.last_plain = 0.0

    def run(self) -> int:
        interrupts = 0
        while True:
            try:
                status = self._poll()
                if status is not None:
                    return status
                time.sleep(0.3)
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts > 1:
                    print(
                        f"\ndetached; the run goes on: studio-desktop experiment show {self.experiment.name}"
                    )
                    return 0
                print("\nstopping: saving a checkpoint (Ctrl+C again to detach)", file=sys.stderr)
                self.experiment.request_stop()

    def _poll(self) -> int | None:
        events = self.reader.read_new()
        for event in events:
            outcome = self._show(event)
            if outcome is not None:
                if self.process is not None:  # the run can be started again once its worker is gone
                    self.process.wait(timeout=EXIT_WAIT)
                return outcome
        if self.process is not None and self.process.poll() is None:
            return None
        if not events and self.experiment.status() == "crashed":
            print(
                f"\nerror: the worker ended without a result; see {self.experiment.log_path}", file=sys.stderr
            )
            return EXIT_BY_STATUS["crashed"]
        return None

    def _show(self, event: object) -> int | None:
        if isinstance(event, Started):
            print(
                f"training {event.backbone} on {event.device}: {event.trainable_params:,} of "
                f"{event.total_params:,} parameters trainable, {event.train_samples} train / "
                f"{event.validation_samples} validation samples, {event.total_steps} steps"
                + (f", {event.precision}" if event.precision else ""),
                file=sys.stderr,
            )
        elif isinstance(event, Metric):
            self.loss = event.values.get("train/loss", self.loss)
            val = {k: v for k, v in event.values.items() if k.startswith("val/")}
            if val:
                text = ", ".join(f"{k} {v:.4g}" for k, v in sorted(val.items()))
                self._line(f"step {event.step}: {text}", keep=True)
        elif isinstance(event, Progress):
            loss = f"loss {self.loss:.4f}" if self.loss is not None else "loss -"
            self._line(
                f"step {event.step}/{event.total_steps}  epoch {event.epoch:.2f}  {loss}  "
                f"{event.tokens_per_second:.0f} tok/s  ETA {format_eta(event.eta_seconds, '--:--')}"
            )
        elif isinstance(event, Log):
            self._line(f"[{event.level}] {event.message}", keep=True)
        elif isinstance(event, Finished):
            summary = ", ".join(f"{k} {v:.4g}" for k, v in sorted(event.metrics.items()))
            self._line(
                f"{event.status} at step {event.step}" + (f": {summary}" if summary else ""), keep=True
            )
            return EXIT_BY_STATUS[event.status]
        elif isinstance(event, Failed):
            self._line(f"failed ({event.failure}): {event.message}", keep=True)
            return EXIT_BY_STATUS["failed"]
        return None

    def _line(self, text: str, keep: bool = False) -> None:
        """Kept lines stay; progress lines overwrite each other (no terminal: one every few seconds)."""
        if self.tty:
            sys.stderr.write("\r\033[K" + text + ("\n" if keep else ""))
        elif keep or time.monotonic() - self.last_plain >= PLAIN_PROGRESS_SECONDS:
            sys.stderr.write(text + "\n")
            self.last_plain = 0.0 if keep else time.monotonic()
        sys.stderr.flush()
