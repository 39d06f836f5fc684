"""Live training curves: loss, validation metrics and learning rate, over steps, epochs or tokens."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio_desktop.jobs.run_state import MetricSeries, RunState

DEFAULT_MAX_POINTS = 5000
X_AXES = {"Step": "steps", "Epoch": "epochs", "Tokens": "tokens"}
PANELS = (
    ("Loss", ("train/loss", "val/loss")),
    ("Validation metrics", ("val/perplexity", "val/bleu", "val/rouge_l")),
    ("Learning rate", ("lr",)),
)
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


class CurvePanel(QWidget):
    """Three plots whose curves are redrawn from a RunState; ``x_axis`` picks step, epoch or tokens."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.x_axis = QComboBox()
        self.x_axis.addItems(list(X_AXES))
        self.x_axis.setToolTip("What the horizontal axis counts: optimizer steps, epochs or tokens seen")
        self.x_axis.currentTextChanged.connect(lambda _text: self.redraw())
        top = QHBoxLayout()
        top.addWidget(QLabel("x-axis:"))
        top.addWidget(self.x_axis)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plots: list[pg.PlotWidget] = []
        for title, names in PANELS:
            plot = pg.PlotWidget(title=title)
            plot.setBackground("w")
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.addLegend(offset=(-10, 10))
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            for index, name in enumerate(names):
                self.curves[name] = plot.plot(
                    [],
                    [],
                    name=name,
                    pen=pg.mkPen(COLORS[index], width=2),
                    symbol="o" if "val" in name else None,
                    symbolSize=5,
                )
            layout.addWidget(plot, stretch=1)
            self.plots.append(plot)
        self.state: RunState | None = None
        self.max_points = DEFAULT_MAX_POINTS

    def set_max_points(self, points: int) -> None:
        """Draw at most this many points per curve (every n-th point, the last one always)."""
        self.max_points = max(2, points)
        self.redraw()

    def show_state(self, state: RunState | None) -> None:
        """Draw this run's curves (None clears them)."""
        self.state = state
        self.redraw()

    def redraw(self) -> None:
        axis = X_AXES[self.x_axis.currentText()]
        for name, curve in self.curves.items():
            series: MetricSeries | None = self.state.series.get(name) if self.state else None
            if series is None or not series.values:
                curve.setData([], [])
                continue
            x = np.asarray(getattr(series, axis), dtype=float)
            y = np.asarray(series.values, dtype=float)
            if len(x) > self.max_points:
                keep = np.unique(
                    np.append(np.linspace(0, len(x) - 1, self.max_points).astype(int), len(x) - 1)
                )
                x, y = x[keep], y[keep]
            curve.setData(x, y)
