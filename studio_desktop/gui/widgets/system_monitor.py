"""Live strips of CPU, RAM, disk and GPU load over the last couple of minutes.

numpy, pyqtgraph and psutil are imported when the plots are built (:meth:`SystemMonitor.ensure_plots`): by
the main window once its first frame is drawn, or at the first sample, whichever comes first. Until then
an empty area of the plots' height holds their place.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

if TYPE_CHECKING:
    import numpy as np
    import pyqtgraph as pg

    from studio_desktop.core.sysinfo import GpuInfo, Snapshot, SystemSampler

GIB = 1024**3
ROW_HEIGHT = 160  # pixels per row of strips
HOST_COLORS = ("#3b82f6", "#8b5cf6", "#f59e0b")  # CPU, RAM, disk
GPU_COLORS = ("#10b981", "#ef4444", "#6366f1", "#f59e0b", "#06b6d4", "#ec4899", "#84cc16", "#64748b")


def _format_number(value: float) -> str:
    """Readable precision: 1234 -> '1234', 12.34 -> '12.3'."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _format_ago(seconds: float) -> str:
    """Axis text for a time before now: 'now', '−30 s', '−5 min'."""
    if seconds <= 0:
        return "now"
    if seconds < 180:
        return f"−{seconds:.0f} s"
    return f"−{seconds / 60:.0f} min"


class Strip:
    """One small plot: a title that carries the current value, and one filled curve per series."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, col: int, name: str, window_s: float) -> None:
        self.name = name
        self.plot: pg.PlotItem = layout.addPlot(row=row, col=col)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=False, y=True, alpha=0.25)
        self.plot.setXRange(-window_s, 0, padding=0.02)
        ticks = [(-window_s * k / 4, _format_ago(window_s * k / 4)) for k in range(4)]
        bottom = self.plot.getAxis("bottom")
        bottom.setTicks([ticks])
        bottom.setStyle(hideOverlappingLabels=False)
        left = self.plot.getAxis("left")
        left.setWidth(40)
        left.setStyle(maxTickLevel=0, maxTextLevel=0, hideOverlappingLabels=False)
        self.curves: list[pg.PlotDataItem] = []
        self.top: float | None = None
        self.title_color = "#202020"
        self.title = ""

    def set_colors(self, colors: Sequence[str]) -> None:
        """One curve per color (replacing any before); a single curve is filled down to zero."""
        import pyqtgraph as pg

        for curve in self.curves:
            self.plot.removeItem(curve)
        self.curves = []
        for color in colors:
            fill = QColor(color)
            fill.setAlpha(50)
            filled = {"fillLevel": 0, "fillBrush": fill} if len(colors) == 1 else {}
            curve = pg.PlotDataItem(pen=pg.mkPen(color, width=2), connect="finite", **filled)
            self.plot.addItem(curve)
            self.curves.append(curve)

    def set_top(self, top: float) -> None:
        """Fix the vertical range to 0..top (only when it changes, to keep updates cheap)."""
        top = max(top, 1e-6)
        if self.top != top:
            self.top = top
            self.plot.setYRange(0, top, padding=0.06)

    def update(self, x: np.ndarray, series: np.ndarray, value_text: str) -> None:
        """Show ``series[i]`` against ``x`` on curve ``i``, and the current value in the title."""
        for curve, y in zip(self.curves, series, strict=False):
            curve.setData(x, y)
        title = f"<b>{html.escape(self.name)}</b>&nbsp;&nbsp;{html.escape(value_text)}"
        if title != self.title:
            self.title = title
            self.plot.setTitle(title, size="9pt", color=self.title_color)


class SystemMonitor(QWidget):
    """CPU %, RAM, working-directory disk and per-GPU utilization, memory and temperature.

    A timer samples once per ``interval_ms``; each tick shifts preallocated numpy buffers by one and hands
    the visible part to the curves, so the slot stays cheap. Call :meth:`start` and :meth:`stop`. The
    plots and buffers are built by :meth:`ensure_plots` (at the latest by the first sample).
    """

    sampled = Signal(object)  # the Snapshot just taken

    def __init__(
        self,
        path: Path,
        parent: QWidget | None = None,
        interval_ms: int = 1000,
        window: int = 120,
        sampler: SystemSampler | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.sampler: SystemSampler | None = sampler
        self.window = window
        self.window_s = window * interval_ms / 1000
        self.count = 0
        self.gpu_colors: list[str] = []
        self._host_strips: list[Strip] = []
        self.gpu_strips: list[Strip] = []
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.sample_now)
        self._build()

    def _build(self) -> None:
        every = self.timer.interval() / 1000
        self.tooltip = (
            f"The last {_format_ago(self.window_s).lstrip('−')}, one point every {every:g} s. "
            "CPU: share of all cores busy. RAM: memory in use (total minus available). "
            f"Disk: the drive that holds {self.path}."
        )
        self.view = QWidget()  # the plots' place until ensure_plots replaces it
        self.view.setAutoFillBackground(True)
        self.view.setBackgroundRole(QPalette.ColorRole.Base)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.view.setFixedHeight(ROW_HEIGHT)
        self.view.setToolTip(self.tooltip)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()
        self.gpu_details = QLabel()
        self.gpu_details.setWordWrap(True)
        self.gpu_details.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.view)
        layout.addWidget(self.gpu_details)
        layout.addWidget(self.note)

    @property
    def host_strips(self) -> list[Strip]:
        """The CPU, RAM and disk strips (built on first use)."""
        self.ensure_plots()
        return self._host_strips

    @property
    def plots_built(self) -> bool:
        return bool(self._host_strips)

    def ensure_plots(self) -> None:
        """Build the sampler, the buffers and the plots, once."""
        if self._host_strips:
            return
        import numpy as np
        import pyqtgraph as pg

        from studio_desktop.core.sysinfo import SystemSampler

        if self.sampler is None:
            self.sampler = SystemSampler(self.path)
        self.times = np.full(self.window, np.nan)
        self.host = np.zeros((3, self.window))  # CPU %, RAM GiB, disk GiB
        self.gpu = np.zeros((3, 0, self.window))  # utilization %, memory GiB, temperature °C per GPU
        placeholder = self.view
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(self.palette().color(QPalette.ColorRole.Base))
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.view.setFixedHeight(ROW_HEIGHT)
        self.view.setToolTip(self.tooltip)
        self.layout_item: pg.GraphicsLayout = self.view.ci
        names = ("CPU", "RAM", "Disk")
        strips = [Strip(self.layout_item, 0, col, names[col], self.window_s) for col in range(3)]
        for strip, color in zip(strips, HOST_COLORS, strict=True):
            strip.set_colors([color])
        strips[0].set_top(100)
        self._style_axes(strips)
        self._host_strips = strips
        self.layout().replaceWidget(placeholder, self.view)
        placeholder.hide()
        placeholder.deleteLater()

    def _style_axes(self, strips: Sequence[Strip]) -> None:
        import pyqtgraph as pg

        text = self.palette().color(QPalette.ColorRole.Text)
        for strip in strips:
            for side in ("left", "bottom"):
                axis = strip.plot.getAxis(side)
                axis.setTextPen(text)
                axis.setPen(pg.mkPen(text.lighter(150) if text.lightness() < 128 else text.darker(150)))
            strip.title_color = text.name()

    def start(self) -> None:
        """Begin sampling (the first point arrives after one interval)."""
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def running(self) -> bool:
        return self.timer.isActive()

    def sample_now(self) -> Snapshot:
        """Take one snapshot, append it to the buffers and redraw the curves."""
        self.ensure_plots()
        assert self.sampler is not None
        snapshot = self.sampler.sample()
        self._ensure_gpus(snapshot.gpus)
        self._push(snapshot)
        self._redraw(snapshot)
        self.sampled.emit(snapshot)
        return snapshot

    def _ensure_gpus(self, gpus: tuple[GpuInfo, ...]) -> None:
        """Create (or recreate, if the count changed) the GPU strips and their buffers."""
        import numpy as np

        if self.gpu.shape[1] == len(gpus):
            return
        self.gpu = np.zeros((3, len(gpus), self.window))
        for strip in self.gpu_strips:
            self.layout_item.removeItem(strip.plot)
        self.gpu_strips = []
        self.gpu_colors = [GPU_COLORS[i % len(GPU_COLORS)] for i in range(len(gpus))]
        if gpus:
            names = ("GPU utilization", "GPU memory", "GPU temperature")
            self.gpu_strips = [Strip(self.layout_item, 1, col, names[col], self.window_s) for col in range(3)]
            self._style_axes(self.gpu_strips)
            self.gpu_strips[0].set_top(100)
            for strip in self.gpu_strips:
                strip.set_colors(self.gpu_colors)
        self.view.setFixedHeight(ROW_HEIGHT * (2 if gpus else 1))

    def _push(self, snapshot: Snapshot) -> None:
        """Shift every buffer left by one sample and write the new one at the end."""
        from numpy import nan

        for buffer in (self.times, self.host, self.gpu):
            buffer[..., :-1] = buffer[..., 1:]
        host = snapshot.host
        self.times[-1] = snapshot.time
        self.host[:, -1] = (host.cpu_percent, host.ram_used_bytes / GIB, host.disk_used_bytes / GIB)
        for i, gpu in enumerate(snapshot.gpus):
            self.gpu[:, i, -1] = (
                nan if gpu.utilization_percent is None else gpu.utilization_percent,
                gpu.memory_used_bytes / GIB,
                nan if gpu.temperature_c is None else gpu.temperature_c,
            )
        self.count = min(self.count + 1, self.window)

    def _redraw(self, snapshot: Snapshot) -> None:
        n = self.count
        x = self.times[-n:] - snapshot.time
        host = snapshot.host
        ram_total, disk_total = host.ram_total_bytes / GIB, host.disk_total_bytes / GIB
        cpu, ram, disk = self.host_strips
        ram.set_top(ram_total)
        disk.set_top(disk_total)
        cpu.update(x, self.host[0:1, -n:], f"{host.cpu_percent:.0f} %")
        used_ram, used_disk = self.host[1, -1], self.host[2, -1]
        ram.update(x, self.host[1:2, -n:], f"{_format_number(used_ram)} of {_format_number(ram_total)} GiB")
        disk.update(
            x, self.host[2:3, -n:], f"{_format_number(used_disk)} of {_format_number(disk_total)} GiB"
        )
        if snapshot.gpus:
            self._redraw_gpus(x, snapshot.gpus)
        _show(self.gpu_details, bool(snapshot.gpus))
        note = snapshot.gpu_note or ""
        if self.note.text() != note:
            self.note.setText(note)
        _show(self.note, bool(note))

    def _redraw_gpus(self, x: np.ndarray, gpus: tuple[GpuInfo, ...]) -> None:
        n = self.count
        util, memory, temperature = self.gpu_strips
        memory.set_top(max(g.memory_total_bytes for g in gpus) / GIB)
        temps = [g.temperature_c for g in gpus if g.temperature_c is not None]
        temperature.set_top(max(100.0, *temps) if temps else 100.0)
        util.update(x, self.gpu[0, :, -n:], _summary([g.utilization_percent for g in gpus], "%"))
        memory.update(x, self.gpu[1, :, -n:], _summary([g.memory_used_bytes / GIB for g in gpus], "GiB"))
        temperature.update(x, self.gpu[2, :, -n:], _summary([g.temperature_c for g in gpus], "°C"))
        cells = [
            f"<td><span style='color:{color}'>■</span> GPU {g.index} · {html.escape(g.name)} · "
            f"{_value(g.utilization_percent, '%')} · {_format_number(g.memory_used_bytes / GIB)} of "
            f"{_format_number(g.memory_total_bytes / GIB)} GiB · {_value(g.temperature_c, '°C')}"
            "&nbsp;&nbsp;&nbsp;</td>"
            for g, color in zip(gpus, self.gpu_colors, strict=False)
        ]
        per_row = 1 if len(cells) <= 2 else 2
        rows = ["".join(cells[i : i + per_row]) for i in range(0, len(cells), per_row)]
        text = "<table>" + "".join(f"<tr>{row}</tr>" for row in rows) + "</table>"
        if self.gpu_details.text() != text:
            self.gpu_details.setText(text)


def _show(widget: QWidget, visible: bool) -> None:
    """Change visibility only when it differs (``isHidden`` is the widget's own flag)."""
    if widget.isHidden() == visible:
        widget.setVisible(visible)


def _value(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.0f} {unit}"


def _summary(values: Sequence[float | None], unit: str) -> str:
    """The value of a single GPU, or the mean and maximum over several (whole numbers but for GiB)."""
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    fmt = _format_number if unit == "GiB" else (lambda v: f"{v:.0f}")
    if len(values) == 1:
        return f"{fmt(known[0])} {unit}"
    return f"mean {fmt(sum(known) / len(known))}, max {fmt(max(known))} {unit}"
