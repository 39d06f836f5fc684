"""The wire protocol between a worker and its followers: typed events as JSON lines.

The worker is the only writer of an experiment's ``events.jsonl``; each line is one event, flushed as written.
Readers parse line by line and skip a trailing partial line (a line being written).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

PROTOCOL_VERSION = 1
FailureClass = Literal[
    "out-of-memory", "disk-full", "diverged", "data", "model", "config", "interrupted", "internal"
]


@dataclass(frozen=True)
class Event:
    """Base of every event; ``time`` is seconds since the epoch."""

    KIND: ClassVar[str] = ""
    time: float = field(default_factory=time.time, kw_only=True)

    def to_json(self) -> str:
        """One JSON line (without the newline)."""
        data = {"kind": self.KIND, "v": PROTOCOL_VERSION, **dataclasses.asdict(self)}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Started(Event):
    """Training began: what runs and on what."""

    KIND = "started"
    pid: int
    backbone: str
    device: str
    trainable_params: int
    total_params: int
    train_samples: int
    validation_samples: int
    total_steps: int
    seed: int
    resumed_from_step: int = 0
    precision: str = ""
    memory_plan: str = ""
    memory_estimate: int = 0


@dataclass(frozen=True)
class Progress(Event):
    """Where training is; ``eta_seconds`` is None until it can be estimated."""

    KIND = "progress"
    step: int
    total_steps: int
    epoch: float
    samples: int
    tokens: int
    tokens_per_second: float
    eta_seconds: float | None


@dataclass(frozen=True)
class Metric(Event):
    """Named values at a step, e.g. ``{"train/loss": 1.2, "lr": 1e-4}`` or ``{"val/perplexity": 8.1}``."""

    KIND = "metric"
    step: int
    epoch: float
    tokens: int
    values: dict[str, float]


@dataclass(frozen=True)
class Checkpoint(Event):
    """A checkpoint was written completely."""

    KIND = "checkpoint"
    step: int
    path: str
    best: bool = False


@dataclass(frozen=True)
class Log(Event):
    """A message for the user's log view."""

    KIND = "log"
    level: Literal["debug", "info", "warning", "error"]
    message: str


@dataclass(frozen=True)
class Finished(Event):
    """The run ended normally (``status`` finished) or after a stop request (``status`` stopped)."""

    KIND = "finished"
    status: Literal["finished", "stopped"]
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    peak_memory: int = 0  # bytes the worker held at its peak (RAM, or reserved GPU memory)


@dataclass(frozen=True)
class Failed(Event):
    """The run ended with an error; ``message`` says what the user can do."""

    KIND = "failed"
    failure: FailureClass
    message: str
    details: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.KIND: cls for cls in (Started, Progress, Metric, Checkpoint, Log, Finished, Failed)
}
FINAL_KINDS = frozenset({"finished", "failed"})


Check = typing.Callable[[Any], bool]


def _checker(hint: Any) -> Check:
    """A test of whether a JSON value has the shape of a field's type (bool is not a number here)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [_checker(arg) for arg in args]
        return lambda value: any(check(value) for check in options)
    if origin is Literal:
        return lambda value: value in args
    if origin is dict:
        key_ok, item_ok = _checker(args[0]), _checker(args[1])
        return lambda value: (
            isinstance(value, dict) and all(key_ok(key) and item_ok(item) for key, item in value.items())
        )
    if hint is type(None):
        return lambda value: value is None
    if hint in (int, float):
        kinds = (int,) if hint is int else (int, float)
        return lambda value: isinstance(value, kinds) and not isinstance(value, bool)
    return lambda value: isinstance(value, hint)


@cache
def _field_checks(cls: type[Event]) -> dict[str, Check]:
    hints = typing.get_type_hints(cls)
    return {f.name: _checker(hints[f.name]) for f in dataclasses.fields(cls)}


def parse_event(line: str) -> Event | None:
    """The event of one JSON line; None for a line of an unknown kind or a newer protocol; ``ValueError`` for
    a line that is not an event of its kind (not JSON, not an object, a field missing or of another type)."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("an event line must hold a JSON object")
    kind, version = data.pop("kind", ""), data.pop("v", PROTOCOL_VERSION)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or not isinstance(version, int) or version > PROTOCOL_VERSION:
        return None
    checks = _field_checks(cls)
    values = {key: value for key, value in data.items() if key in checks}
    for key, value in values.items():
        if not checks[key](value):
            raise ValueError(f"the {kind} event's {key} is {value!r:.80}")
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        raise ValueError(str(error)) from None


DURABLE_KINDS = frozenset({"started", "checkpoint", "finished", "failed"})


class EventWriter:
    """Appends events to a file, one flushed line each; milestones are also synced to disk.

    It is the worker's event sink (``core.training.recipe.Sink``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")
        if self._ends_mid_line():  # a writer killed mid-line: the next event starts on a line of its own
            self._handle.write("\n")
            self._handle.flush()

    def _ends_mid_line(self) -> bool:
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() == 0:
                    return False
                handle.seek(-1, os.SEEK_END)
                return handle.read(1) != b"\n"
        except OSError:
            return False

    def emit(self, event: Event) -> None:
        """Append ``event`` as one line."""
        self._handle.write(event.to_json() + "\n")
        self._handle.flush()
        if event.KIND in DURABLE_KINDS:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


class EventReader:
    """Reads the events appended since the last call (tails the file by byte offset).

    ``behind`` is True while a read limited to fewer bytes than the file gained left lines unread;
    ``skipped`` counts the lines that were not events (garbage, or an event of the wrong shape).
    """

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self.behind = False
        self.skipped = 0

    def read_new(self, limit: int | None = None) -> list[Event]:
        """Complete lines written since the last call, at most about ``limit`` bytes of them (always at least
        one line); a partial last line waits for the next call."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read() if limit is None else handle.read(limit)
                while limit is not None and b"\n" not in chunk:  # one line longer than the limit
                    more = handle.read(limit)
                    if not more:
                        break
                    chunk += more
                self.behind = limit is not None and bool(handle.read(1))
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        events = []
        for raw in chunk[:end].splitlines():
            if raw.strip():
                try:
                    event = parse_event(raw.decode("utf-8"))
                except (ValueError, RecursionError):  # JSON, Unicode and shape errors are ValueErrors
                    self.skipped += 1
                    continue
                if event is not None:
                    events.append(event)
        return events


def tail_events(path: Path, size: int = 8192) -> list[Event]:
    """The complete events in the last ``size`` bytes of a file: the latest ones, without reading it all (a
    line cut by the start is skipped as unreadable)."""
    try:
        start = max(0, path.stat().st_size - size)
    except FileNotFoundError:
        return []
    return EventReader(path, offset=start).read_new()


def read_events(path: Path) -> list[Event]:
    """Every complete event in a file."""
    return EventReader(path).read_new()
