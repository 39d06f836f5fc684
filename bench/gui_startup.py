"""Time to the main window's first paint against a bare QMainWindow, and the event loop's longest stall.

Startup: each window opens in a fresh process (``python bench/gui_startup.py --child ...``); the time runs
from just before the process is launched until the child prints a line, which it does in a zero-timeout timer
armed at the first ``QEvent.Paint`` of the window (the timer fires once that frame is drawn). Imports,
``QApplication``, the working directory and the catalogue are all inside. The app starts through its real
entry (``studio_desktop.__main__.main``) on a working directory where the first start already finished, so
no first-run child process is launched. Target: at most 2x the bare window (median of ``--runs``).

Stall: the curve panel of the Experiments tab and the Home tab's system monitor (sampling at 1 Hz) in one
window, while a separate process appends the worker's events (a ``progress`` and a ``metric`` with
``train/loss`` and ``lr`` per step, validation every 5,000 steps) to an ``events.jsonl``; once a second, as
the Experiments tab does, a ``RunTracker`` reads what is new and the panel redraws the run. A 2 ms
precise timer measures the gaps of the event loop. Target: the longest gap at most 50 ms.

Runs under ``QT_QPA_PLATFORM=offscreen`` unless ``--platform xcb`` (e.g. under xvfb-run). ``--quick``: fewer
runs and points.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TARGET = 2.0
STALL_TARGET_MS = 50.0
HEARTBEAT_MS = 2
REFRESH_MS = 1000  # the Experiments tab's refresh interval
READY = "first-paint"
BUILT = "all-built"


# -- children -------------------------------------------------------------------------------------------


def report_first_paint(app, then_wait_for_tabs: bool = False) -> None:
    """Print READY once the first frame of a main window is drawn, then end the process.

    With ``then_wait_for_tabs`` the process first waits until the window has built every tab and the system
    monitor its plots, and prints ``BUILT <longest event-loop gap in ms since the first paint>``.
    """
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QMainWindow, QWidget

    def everything_built(window: QMainWindow) -> bool:
        monitor = window.home.monitor
        return not getattr(window, "placeholders", None) and getattr(monitor, "plots_built", True)

    def check(window: QMainWindow, meter: GapMeter) -> None:
        if everything_built(window) or meter.clock.elapsed() > 30_000:
            print(f"{BUILT} {max(meter.gaps, default=0.0):.1f}", flush=True)
            os._exit(0)

    def painted(window: QMainWindow) -> None:
        print(READY, flush=True)
        if not then_wait_for_tabs:
            os._exit(0)  # no teardown, and the app saves no window geometry
        meter = app.gap_meter = GapMeter()
        meter.timer.timeout.connect(lambda: check(window, meter))

    class FirstPaint(QObject):
        seen = False

        def eventFilter(self, watched, event) -> bool:  # noqa: N802
            is_paint = event.type() == QEvent.Type.Paint and isinstance(watched, QWidget)
            if not self.seen and is_paint and isinstance(watched.window(), QMainWindow):
                self.seen = True
                window = watched.window()
                QTimer.singleShot(0, lambda: painted(window))
            return False

    app.first_paint_filter = FirstPaint()
    app.installEventFilter(app.first_paint_filter)


def child_bare() -> int:
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    report_first_paint(app)
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.resize(1200, 780)
    window.show()
    return app.exec()


def child_app() -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])  # the app's run_gui takes this instance
    report_first_paint(app, then_wait_for_tabs=True)
    sys.path.insert(0, str(ROOT))
    from studio_desktop.__main__ import main as studio_main

    return studio_main([])


def write_events(path: Path, points: int, rate: float) -> None:
    """Append a training run's events at ``rate`` steps per second, in batches every 20 ms, like a worker."""
    sys.path.insert(0, str(ROOT))
    from studio_desktop.core.events import Metric, Progress, Started

    handle = path.open("a", encoding="utf-8")
    handle.write(Started(1, "bench", "cpu", 1, 1, points, 10, points, 0).to_json() + "\n")
    start = time.monotonic()
    written = 0
    while written < points:
        due = min(points, int((time.monotonic() - start) * rate) + 1)
        lines = []
        for step in range(written + 1, due + 1):
            epoch, tokens = step / 10_000, step * 512
            remaining = (points - step) / rate
            lines.append(Progress(step, points, epoch, step * 4, tokens, 512.0 * rate, remaining).to_json())
            values = {"train/loss": 2.0 / (1 + step / 1000) + 0.05 * ((step * 7919) % 13) / 13, "lr": 1e-4}
            if step % 5000 == 0:
                values.update({"val/loss": values["train/loss"] * 1.1, "val/perplexity": 3.0})
            lines.append(Metric(step=step, epoch=epoch, tokens=tokens, values=values).to_json())
        written = due
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        time.sleep(0.02)
    handle.close()


class GapMeter:
    """A precise timer every HEARTBEAT_MS; ``gaps`` holds the time between beats (ms) after ``skip_ms``."""

    def __init__(self, skip_ms: float = 0.0) -> None:
        from PySide6.QtCore import QElapsedTimer, Qt, QTimer

        self.skip_ms = skip_ms
        self.gaps: list[float] = []
        self.clock = QElapsedTimer()
        self.clock.start()
        self.last = 0.0
        self.timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=HEARTBEAT_MS, timeout=self.beat)
        self.timer.start()

    def beat(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        if now > self.skip_ms:
            self.gaps.append(now - self.last)
        self.last = now


def child_stall(points: int, rate: float) -> int:
    """Follow a growing run like the Experiments tab while the system monitor samples; print the gaps."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

    from studio_desktop.gui.widgets.curves import CurvePanel
    from studio_desktop.gui.widgets.system_monitor import SystemMonitor
    from studio_desktop.jobs.experiment import Experiment
    from studio_desktop.jobs.run_state import RunTracker

    app = QApplication(sys.argv[:1])
    folder = Path(os.environ["STUDIO_DESKTOP_WORKDIR"]) / "experiments" / "growing"
    folder.mkdir(parents=True)
    experiment = Experiment(folder)
    window = QWidget()
    layout = QVBoxLayout(window)
    curves, monitor = CurvePanel(), SystemMonitor(folder)
    layout.addWidget(curves, 1)
    layout.addWidget(monitor)
    window.resize(1200, 900)
    window.show()
    getattr(monitor, "ensure_plots", lambda: None)()  # built at startup, not part of the growth
    monitor.start()
    tracker = RunTracker(experiment)
    writer = subprocess.Popen(
        [sys.executable, __file__, "--child", "writer", "--points", str(points), "--rate", str(rate)],
        env=dict(os.environ, GUI_BENCH_EVENTS=str(experiment.events_path)),
    )
    ticks: list[tuple[float, float, int]] = []  # seconds reading events, seconds drawing, points

    def refresh() -> None:  # what ExperimentsTab.refresh does for the selected run
        started = time.perf_counter()
        tracker.poll()
        parsed = time.perf_counter()
        curves.show_state(tracker.state)
        series = tracker.state.series.get("train/loss")
        ticks.append((parsed - started, time.perf_counter() - parsed, len(series.values) if series else 0))
        if ticks[-1][2] >= points:
            QTimer.singleShot(REFRESH_MS, app.quit)  # one more frame and sample at full size

    meter = GapMeter(skip_ms=300)  # the freshly shown window settles first
    follow = QTimer(interval=REFRESH_MS, timeout=refresh)
    follow.start()
    app.exec()
    writer.wait()
    gaps = sorted(meter.gaps)
    worst = max(ticks, key=lambda tick: tick[0] + tick[1])
    result = {
        "max_gap_ms": gaps[-1],
        "p99_gap_ms": gaps[int(0.99 * (len(gaps) - 1))],
        "points": ticks[-1][2],
        "ticks": len(ticks),
        "worst_read_ms": worst[0] * 1000,
        "worst_draw_ms": worst[1] * 1000,
        "last_draw_ms": ticks[-1][1] * 1000,
    }
    print(json.dumps(result), flush=True)
    return 0


# -- parent ---------------------------------------------------------------------------------------------


def time_first_paint(kind: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from launching a child until it reports the first paint of its window; for the app also
    until every tab is built, and the longest event-loop gap (ms) in between."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", kind],
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert child.stdout is not None
        painted = built = gap = 0.0
        for line in child.stdout:
            if line.strip() == READY:
                painted = built = time.perf_counter() - start
            elif line.startswith(BUILT):
                built, gap = time.perf_counter() - start, float(line.split()[1])
        child.wait()
        if not painted:
            errors.seek(0)
            raise SystemExit(
                f"the {kind} window never painted (exit code {child.returncode}):\n{errors.read()}"
            )
    return painted, built, gap


def prepared_workdir(base: Path) -> Path:
    """A working directory whose first start is done (the bundled model and demo are not needed)."""
    sys.path.insert(0, str(ROOT))
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.datasets import DEMO_DONE_KEY
    from studio_desktop.jobs.workdir import open_workdir

    workdir = open_workdir(base / "workdir")
    Catalog(workdir.catalog_path).set_setting(DEMO_DONE_KEY, True)
    return workdir.root


def measure_startup(runs: int, env: dict[str, str]) -> tuple[list[float], list[tuple[float, float, float]]]:
    """Alternate bare and app children (after one warm-up each) so that both see the same noise."""
    bare: list[float] = []
    studio: list[tuple[float, float, float]] = []
    time_first_paint("bare", env)
    time_first_paint("app", env)
    for _ in range(runs):
        bare.append(time_first_paint("bare", env)[0])
        studio.append(time_first_paint("app", env))
    return bare, studio


def measure_stall(points: int, rate: float, env: dict[str, str]) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", "stall", "--points", str(points), "--rate", str(rate)]
    process = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if process.returncode != 0:
        raise SystemExit(f"the stall child failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 runs and a 50,000-point curve")
    parser.add_argument("--runs", type=int, help="startup runs of each window (default 7)")
    parser.add_argument("--points", type=int, help="points of the growing curve (default 200,000)")
    parser.add_argument("--rate", type=float, default=2000.0, help="steps per second the run writes")
    parser.add_argument("--platform", default="offscreen", help="Qt platform (offscreen, or xcb under xvfb)")
    parser.add_argument("--child", choices=("bare", "app", "stall", "writer"), help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args()
    points = args.points or (50_000 if args.quick else 200_000)
    if args.child == "bare":
        return child_bare()
    if args.child == "app":
        return child_app()
    if args.child == "writer":
        write_events(Path(os.environ["GUI_BENCH_EVENTS"]), points, args.rate)
        return 0
    if args.child == "stall":
        return child_stall(points, args.rate)

    runs = args.runs or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory(prefix="gui-startup-") as tmp:
        env = dict(
            os.environ, QT_QPA_PLATFORM=args.platform, STUDIO_DESKTOP_WORKDIR=str(prepared_workdir(Path(tmp)))
        )
        # Bytecode is cached, as in an installed app (in the temporary folder: the tree stays clean).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        bare, studio = measure_startup(runs, env)
        stall = measure_stall(points, args.rate, env)
    baseline, candidate = statistics.median(bare), statistics.median(run[0] for run in studio)
    built, freeze = statistics.median(run[1] for run in studio), statistics.median(run[2] for run in studio)
    ratio = candidate / baseline
    stall_ms = stall["max_gap_ms"]
    print(f"gui_startup: first paint in a fresh process (platform {args.platform}), {runs} runs each")
    print(f"  baseline bare QMainWindow    {baseline:8.3f} s (median of {runs}; all {fmt(bare)})")
    print(f"  Studio Desktop main window   {candidate:8.3f} s (all {fmt([run[0] for run in studio])})")
    print(
        f"  every tab and the monitor's plots built at {built:.3f} s; longest event-loop gap after the first "
        f"paint {freeze:.0f} ms (medians)"
    )
    print(f"  ratio {ratio:.1f}x  (target <= {STARTUP_TARGET:.0f}x: {verdict(ratio <= STARTUP_TARGET)})")
    print(
        f"  following the run: {stall['ticks']} refreshes at 1 Hz, {args.rate:,.0f} steps/s; slowest refresh "
        f"{stall['worst_read_ms']:.0f} ms reading events + {stall['worst_draw_ms']:.0f} ms drawing; "
        f"last draw {stall['last_draw_ms']:.0f} ms; 99th percentile gap {stall['p99_gap_ms']:.0f} ms"
    )
    print(
        f"  longest event-loop stall {stall_ms:.0f} ms while a {stall['points']:,}-point curve grows  "
        f"(target <= {STALL_TARGET_MS:.0f} ms: {verdict(stall_ms <= STALL_TARGET_MS)})"
    )
    return 0


def fmt(values: list[float]) -> str:
    return " ".join(f"{value:.3f}" for value in values)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
