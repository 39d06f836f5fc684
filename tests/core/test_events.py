"""Event protocol: JSON lines round trip, tailing by offset, tolerance of partial and unknown lines."""

from __future__ import annotations

import json
from pathlib import Path

from studio_desktop.core.events import (
    PROTOCOL_VERSION,
    Checkpoint,
    EventReader,
    EventWriter,
    Failed,
    Finished,
    Log,
    Metric,
    Progress,
    Started,
    parse_event,
    read_events,
)

SAMPLES = [
    Started(
        pid=1,
        backbone="b",
        device="cpu",
        trainable_params=10,
        total_params=100,
        train_samples=5,
        validation_samples=1,
        total_steps=3,
        seed=7,
        time=1.0,
    ),
    Progress(
        step=1,
        total_steps=3,
        epoch=0.3,
        samples=4,
        tokens=99,
        tokens_per_second=12.5,
        eta_seconds=None,
        time=2.0,
    ),
    Metric(step=1, epoch=0.3, tokens=99, values={"train/loss": 2.5, "lr": 1e-4}, time=3.0),
    Checkpoint(step=1, path="/x/checkpoint-1", best=True, time=4.0),
    Log(level="warning", message="ünïcode ✓", time=5.0),
    Finished(status="stopped", step=1, metrics={"val/loss": 1.0}, time=6.0),
    Failed(failure="out-of-memory", message="lower the batch size", details="trace", time=7.0),
]


def test_every_event_round_trips(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path / "events.jsonl")
    for event in SAMPLES:
        writer.emit(event)
    writer.close()
    assert read_events(tmp_path / "events.jsonl") == SAMPLES
    first = json.loads((tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["kind"] == "started" and first["v"] == PROTOCOL_VERSION


def test_reader_tails_by_offset_and_waits_for_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    reader = EventReader(path)
    assert reader.read_new() == []
    line = SAMPLES[2].to_json()
    path.write_text(line[:10], encoding="utf-8")
    assert reader.read_new() == []
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line[10:] + "\n" + SAMPLES[4].to_json()[:5])
    assert reader.read_new() == [SAMPLES[2]]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(SAMPLES[4].to_json()[5:] + "\n")
    assert reader.read_new() == [SAMPLES[4]]
    assert reader.read_new() == []


def test_unknown_kinds_newer_versions_and_garbage_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        json.dumps({"kind": "telemetry", "v": 1, "x": 1}),
        json.dumps({"kind": "log", "v": PROTOCOL_VERSION + 1, "level": "info", "message": "m"}),
        "{not json",
        json.dumps({"kind": "log", "v": 1, "level": "info", "message": "kept", "time": 1.0, "extra": 3}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_events(path) == [Log(level="info", message="kept", time=1.0)]
    assert parse_event(lines[0]) is None


def test_a_limited_read_takes_whole_lines_and_says_what_is_left(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    for step in range(1, 101):
        writer.emit(Log(level="info", message=f"line {step}"))
    writer.emit(Log(level="info", message="x" * 5000))  # longer than the limit: still read whole
    writer.close()
    reader = EventReader(path)
    slices = []
    while not slices or reader.behind:
        slices.append(reader.read_new(limit=1000))
    assert len(slices) > 5 and all(slices)
    messages = [event.message for part in slices for event in part]
    assert messages == [f"line {step}" for step in range(1, 101)] + ["x" * 5000]
    assert reader.read_new(limit=1000) == [] and not reader.behind


def test_a_line_of_the_wrong_shape_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = Metric(step=1, epoch=0.5, tokens=3, values={"train/loss": 1.5})
    bad = [
        "[1, 2]",
        '"a string"',
        '{"kind": "metric", "step": 2, "epoch": 0.5, "tokens": 3, "values": "oops"}',
        '{"kind": "progress", "step": true}',
        '{"kind": "log", "level": "loud", "message": "m"}',
        '{"kind": "finished", "status": "finished"}',  # step missing
        "[" * 100_000,  # deeper than the parser goes
    ]
    path.write_text("\n".join([*bad, good.to_json()]) + "\n", encoding="utf-8")
    reader = EventReader(path)
    assert reader.read_new() == [good]
    assert reader.skipped == len(bad)


def test_a_writer_after_a_cut_line_starts_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first = Log(level="info", message="before")
    path.write_text(first.to_json() + "\n" + '{"kind": "log", "lev', encoding="utf-8")  # killed mid-line
    writer = EventWriter(path)
    after = Log(level="info", message="after")
    writer.emit(after)
    writer.close()
    reader = EventReader(path)
    assert reader.read_new() == [first, after] and reader.skipped == 1


def test_the_tail_holds_the_latest_events_without_the_cut_line(tmp_path: Path) -> None:
    from studio_desktop.core.events import tail_events

    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    for step in range(1, 2001):
        writer.emit(Log(level="info", message=f"line {step}"))
    writer.emit(Finished(status="finished", step=2000))
    writer.close()
    tail = tail_events(path, 1000)
    assert 5 < len(tail) < 30 and isinstance(tail[-1], Finished)
    assert [event.message for event in tail[:-1]] == [f"line {n}" for n in range(2001 - len(tail) + 1, 2001)]
    assert tail_events(tmp_path / "missing.jsonl") == []
