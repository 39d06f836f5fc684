"""Time to the main window's first paint against a bare QMainWindow, and the event loop's longest stall.

Startup: each window opens in a fresh process (``--child bare`` / ``--child app``), timed from just before
the launch until the child prints a line from a zero-timeout timer armed at the window's first
``QEvent.Paint`` (it fires once that frame is drawn): imports, ``QApplication``, working directory and
catalogue included. The app starts through its real entry (``studio_desktop.__main__.main``) on a working
directory whose first start is done, so no first-run process is launched. Target: at most 2x (medians).

Stall: the real Experiments tab (list, and curves 620 px wide) with the run selected, and the Home tab's
system monitor (sampling at 1 Hz) below it, while a separate process recorded as the run's worker appends a
worker's events (a ``progress`` and a ``metric`` with ``train/loss`` and ``lr`` per step, validation every
5,000 steps) to the run's ``events.jsonl`` at ``--rate`` steps per second; the tab refreshes once a second
as always. A 2 ms precise timer measures the event loop's gaps. Target: the longest at most 50 ms. (A real
run writes a few steps per second; the compressed rate puts ~2,000 event lines into every refresh, which the
report shows apart from the rest of the refresh.)

``QT_QPA_PLATFORM=offscreen`` unless ``--platform xcb`` (e.g. under xvfb-run). ``--quick``: fewer runs and
points. Unknown arguments are ignored.
"""

from __future__ import annotations

# Only what the bare child needs is imported here; everything else where it is used, so that the baseline
# process does no work the app's process would not do.
import os
import sys
import time
from pathlib import Path  # already loaded by the interpreter's startup (site)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    sys.path.insert(0, ROOT)
    import studio_desktop.gui.app  # noqa: F401 - first, as the entry point does (no Qt in it)
    from studio_desktop.gui import main_window

    show = main_window.MainWindow.show

    def show_and_watch(window) -> None:  # the app created its QApplication by now
        from PySide6.QtWidgets import QApplication

        report_first_paint(QApplication.instance(), then_wait_for_tabs=True)
        show(window)

    main_window.MainWindow.show = show_and_watch
    from studio_desktop.__main__ import main as studio_main

    return studio_main([])


def write_events(path: Path, points: int, rate: float) -> None:
    """Append a training run's events at ``rate`` steps per second, in batches every 20 ms, like a worker."""
    sys.path.insert(0, ROOT)
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
    """Beats every HEARTBEAT_MS: ``gaps`` (ms between beats after ``skip_ms``) and ``busy`` (the GUI thread's
    CPU time in them: its own work, not the wait for a core that other processes held)."""

    def __init__(self, skip_ms: float = 0.0) -> None:
        from PySide6.QtCore import QElapsedTimer, Qt, QTimer

        self.skip_ms = skip_ms
        self.gaps: list[float] = []
        self.busy: list[float] = []
        self.clock = QElapsedTimer()
        self.clock.start()
        self.last = (0.0, time.thread_time())
        self.timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=HEARTBEAT_MS, timeout=self.beat)
        self.timer.start()

    def beat(self) -> None:
        now = (self.clock.nsecsElapsed() / 1e6, time.thread_time())
        if now[0] > self.skip_ms:
            self.gaps.append(now[0] - self.last[0])
            self.busy.append((now[1] - self.last[1]) * 1000)
        self.last = now


def child_stall(points: int, rate: float) -> int:
    """Follow a growing run in the real Experiments tab while the system monitor samples; print the gaps."""
    import json
    import subprocess

    sys.path.insert(0, ROOT)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from studio_desktop.core.config import default_config
    from studio_desktop.jobs import run_state
    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.experiment import create_experiment
    from studio_desktop.jobs.workdir import open_workdir

    app = QApplication(sys.argv[:1])
    workdir = open_workdir()
    catalog = Catalog(workdir.catalog_path)
    experiment = create_experiment(workdir, catalog, default_config().replace({"experiment_name": "growing"}))
    writer = subprocess.Popen(
        [sys.executable, __file__, "--child", "writer", "--points", str(points), "--rate", str(rate)],
        env=dict(os.environ, GUI_BENCH_EVENTS=str(experiment.events_path)),
    )
    experiment.record_worker(writer.pid)  # the run's worker: the tab shows it running
    reading = [0.0, 0]  # seconds in RunTracker.poll during one refresh, events it returned
    poll = run_state.RunTracker.poll

    def timed_poll(tracker, limit=None):
        started = time.perf_counter()
        events = poll(tracker, limit)
        reading[0] += time.perf_counter() - started
        reading[1] += len(events)
        return events

    run_state.RunTracker.poll = timed_poll
    tab, _window = stall_window(workdir, catalog)
    ticks: list[tuple[float, float, int, int]] = []  # seconds reading, seconds in the rest, points, events

    def refresh() -> None:  # the tab's own 1 Hz refresh, timed
        reading[:] = [0.0, 0]
        started = time.perf_counter()
        tab.refresh()
        elapsed = time.perf_counter() - started
        series = tab.runs.tracker("growing").state.series.get("train/loss")
        size = len(series.values) if series else 0
        ticks.append((reading[0], elapsed - reading[0], size, reading[1]))
        if size >= points:
            QTimer.singleShot(REFRESH_MS, app.quit)  # one more frame and sample at full size

    tab.runs.timer.timeout.disconnect()
    tab.runs.timer.timeout.connect(refresh)
    meter = GapMeter(skip_ms=300)  # the freshly shown window settles first
    app.exec()
    writer.wait()
    print(json.dumps(stall_summary(meter, ticks)), flush=True)
    return 0


def stall_window(workdir, catalog):
    """The Experiments tab (list, and curves 620 px wide) with the run selected, the Home tab's monitor
    below it, shown, the monitor sampling."""
    import importlib

    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from studio_desktop.gui.tabs.experiments import ExperimentsTab
    from studio_desktop.gui.widgets.system_monitor import SystemMonitor

    window = QWidget()
    layout = QVBoxLayout(window)
    tab, monitor = ExperimentsTab(workdir, catalog), SystemMonitor(workdir.root)
    layout.addWidget(tab, 1)
    layout.addWidget(monitor)
    window.resize(1200, 880)
    tab.select_experiment("growing")
    window.show()
    getattr(monitor, "ensure_plots", lambda: None)()  # built at startup, not part of the growth
    monitor.start()
    getattr(importlib.import_module("studio_desktop.gui.main_window"), "settle", lambda: None)()  # as it does
    return tab, window


def stall_summary(meter: GapMeter, ticks: list[tuple[float, float, int, int]]) -> dict[str, float]:
    gaps = sorted(meter.gaps)
    worst = max(ticks, key=lambda tick: tick[0] + tick[1])
    return {
        "max_gap_ms": gaps[-1],
        "max_busy_ms": max(meter.busy),
        "p99_gap_ms": gaps[int(0.99 * (len(gaps) - 1))],
        "points": ticks[-1][2],
        "ticks": len(ticks),
        "worst_read_ms": worst[0] * 1000,
        "worst_events": worst[3],
        "worst_draw_ms": worst[1] * 1000,
        "last_draw_ms": ticks[-1][1] * 1000,
    }


# -- parent ---------------------------------------------------------------------------------------------


def time_first_paint(kind: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from launching a child until it reports the first paint of its window; for the app also
    until every tab is built, and the longest event-loop gap (ms) in between."""
    import subprocess
    import tempfile

    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        command = [sys.executable, __file__, "--child", kind]
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
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
            raise SystemExit(f"the {kind} window never painted ({child.returncode}):\n{errors.read()}")
    return painted, built, gap


def prepared_workdir(base: Path) -> Path:
    """A working directory whose first start is done (no bundled model or demo needed)."""
    sys.path.insert(0, ROOT)
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
    import json
    import subprocess

    command = [sys.executable, __file__, "--child", "stall", "--points", str(points), "--rate", str(rate)]
    process = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if process.returncode != 0:
        raise SystemExit(f"the stall child failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> int:
    if sys.argv[1:3] == ["--child", "bare"]:
        return child_bare()
    if sys.argv[1:3] == ["--child", "app"]:
        return child_app()
    import argparse
    import statistics
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 runs and a 40,000-point curve")
    parser.add_argument("--runs", type=int, help="startup runs of each window (default 7)")
    parser.add_argument("--points", type=int, help="points of the growing curve (default 200,000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="steps per second the run writes")
    parser.add_argument("--platform", default="offscreen", help="Qt platform (offscreen, or xcb under xvfb)")
    parser.add_argument("--child", choices=("stall", "writer"), help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args()
    points = args.points or (40_000 if args.quick else 200_000)
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
    paints = [run[0] for run in studio]
    baseline, candidate = statistics.median(bare), statistics.median(paints)
    built, freeze = statistics.median(run[1] for run in studio), statistics.median(run[2] for run in studio)
    ratio, stall_ms, load = candidate / baseline, stall["max_gap_ms"], os.getloadavg()[0]
    print(f"gui_startup: first paint in a fresh process (platform {args.platform}), {runs} runs each")
    print(f"  baseline bare QMainWindow    {baseline:8.3f} s (median of {runs}; all {seconds(bare)})")
    print(f"  Studio Desktop main window   {candidate:8.3f} s (all {seconds(paints)})")
    print(f"  fastest of each: {min(bare):.3f} s and {min(paints):.3f} s ({min(paints) / min(bare):.1f}x)")
    print(
        f"  all tabs and monitor plots built at {built:.3f} s (longest gap after first paint {freeze:.0f} ms)"
    )
    print(f"  ratio {ratio:.1f}x  (target <= {STARTUP_TARGET:.0f}x: {verdict(ratio <= STARTUP_TARGET)})")
    print(
        f"  following the run: {stall['ticks']} refreshes at 1 Hz, {args.rate:,.0f} steps/s; slowest refresh "
        f"{stall['worst_read_ms']:.0f} ms reading {stall['worst_events']:,} new events + "
        f"{stall['worst_draw_ms']:.0f} ms for the rest (list, status, curves), the rest at the end "
        f"{stall['last_draw_ms']:.0f} ms; 99th percentile gap {stall['p99_gap_ms']:.0f} ms; longest "
        f"GUI-thread CPU time in one gap {stall['max_busy_ms']:.0f} ms; load average {load:.1f}"
    )
    print(
        f"  longest event-loop stall {stall_ms:.0f} ms while a {stall['points']:,}-point curve grows  "
        f"(target <= {STALL_TARGET_MS:.0f} ms: {verdict(stall_ms <= STALL_TARGET_MS)})"
    )
    return 0


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def seconds(values) -> str:
    return " ".join(f"{value:.3f}" for value in values)


if __name__ == "__main__":
    sys.exit(main())
