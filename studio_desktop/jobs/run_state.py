"""What an experiment's event file says so far, updated incrementally by tailing the file."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from studio_desktop.core.events import Event, EventReader, Failed, Finished, Log, Metric, Progress, Started
from studio_desktop.jobs.experiment import Experiment


def _integers() -> array[int]:
    return array("q")


def _floats() -> array[float]:
    return array("d")


@dataclass
class MetricSeries:
    """One metric's points, with every x-axis the curves can use.

    Numbers are kept in typed arrays, not lists: the garbage collector never walks them (a list of 200,000
    numbers made every full collection of the window visit each of them).
    """

    steps: array[int] = field(default_factory=_integers)
    epochs: array[float] = field(default_factory=_floats)
    tokens: array[int] = field(default_factory=_integers)
    values: array[float] = field(default_factory=_floats)

    def add(self, event: Metric, value: float) -> None:
        self.steps.append(event.step)
        self.epochs.append(event.epoch)
        self.tokens.append(event.tokens)
        self.values.append(value)


@dataclass
class RunState:
    """The latest progress, every metric series, the log and the final event of a run (or of several runs,
    when it was resumed)."""

    started: Started | None = None
    progress: Progress | None = None
    final: Finished | Failed | None = None
    series: dict[str, MetricSeries] = field(default_factory=dict)
    logs: list[Log] = field(default_factory=list)

    def apply(self, event: Event) -> None:
        """Fold one event into the state."""
        if isinstance(event, Started):
            self.started, self.final = event, None
        elif isinstance(event, Progress):
            self.progress = event
        elif isinstance(event, Metric):
            for name, value in event.values.items():
                self.series.setdefault(name, MetricSeries()).add(event, value)
        elif isinstance(event, Log):
            self.logs.append(event)
        elif isinstance(event, (Finished, Failed)):
            self.final = event

    def latest(self, name: str) -> float | None:
        """The last value of a metric, if any."""
        series = self.series.get(name)
        return series.values[-1] if series and series.values else None


class RunTracker:
    """Keeps a RunState in step with an experiment's event file; ``poll()`` reads only what is new."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.reader = EventReader(experiment.events_path)
        self.state = RunState()

    def poll(self, limit: int | None = None) -> list[Event]:
        """Apply the events written since the last call (at most about ``limit`` bytes) and return them."""
        events = self.reader.read_new(limit)
        for event in events:
            self.state.apply(event)
        return events


def format_eta(seconds: float | None, unknown: str = "-") -> str:
    """A remaining time as ``m:ss`` or ``h:mm:ss``; ``unknown`` while it cannot be estimated."""
    if seconds is None:
        return unknown
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
