"""Live training curves: loss, validation metrics and learning rate, over steps, epochs or tokens."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio_desktop.core.training.rewards import REWARD_NAMES
from studio_desktop.jobs.run_state import MetricSeries, RunState

DEFAULT_MAX_POINTS = 5000
X_AXES = {"Step": "steps", "Epoch": "epochs", "Tokens": "tokens"}
PANELS = (
    ("Loss", ("train/loss", "val/loss")),
    ("Validation metrics", ("val/perplexity", "val/bleu", "val/rouge_l")),
    ("Classification metrics", ("val/auc", "val/accuracy", "val/logloss")),
    ("Regression metrics", ("val/mse", "val/mae")),
    ("Rewards", ("train/reward", "val/reward", "train/reward_std")),
    (
        "Reward per function",
        tuple(f"train/rewards/{name}/mean" for name in REWARD_NAMES),
    ),
    ("Completions", ("train/completion_length", "val/completion_length", "train/kl")),
    ("Learning rate", ("lr",)),
    (
        "Preference rewards",
        (
            "train/rewards/margins",
            "val/rewards/margins",
            "train/rewards/accuracies",
            "val/rewards/accuracies",
        ),
    ),
)
# Panels shown only while the run has data for them: each problem type reports its own metrics.
OPTIONAL_PANELS = frozenset(
    {
        "Validation metrics",
        "Classification metrics",
        "Regression metrics",
        "Rewards",
        "Reward per function",
        "Completions",
        "Preference rewards",
    }
)
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


class GrowingArray:
    """A float array kept equal to an append-only list by copying only what was appended since last time."""

    def __init__(self) -> None:
        self.buffer = np.empty(0)
        self.size = 0

    def sync(self, values: list) -> np.ndarray:
        count = len(values)
        if count < self.size:  # not the list this array followed: start again
            self.size = 0
        if count > len(self.buffer):
            grown = np.empty(max(count, 2 * len(self.buffer), 1024))
            grown[: self.size] = self.buffer[: self.size]
            self.buffer = grown
        if count > self.size:
            self.buffer[self.size : count] = values[self.size : count]
            self.size = count
        return self.buffer[:count]


def x_axis_chooser(redraw: Callable[[], None]) -> tuple[QComboBox, QHBoxLayout]:
    """The x-axis combo box (steps, epochs, tokens) in a row of its own; a change calls ``redraw``."""
    combo = QComboBox()
    combo.addItems(list(X_AXES))
    combo.setToolTip("What the horizontal axis counts: optimizer steps, epochs or tokens seen")
    combo.currentTextChanged.connect(lambda _text: redraw())
    row = QHBoxLayout()
    row.addWidget(QLabel("x-axis:"))
    row.addWidget(combo)
    row.addStretch(1)
    return combo, row


class CurvePanel(QWidget):
    """Three plots whose curves are redrawn from a RunState; ``x_axis`` picks step, epoch or tokens.

    A run's series only grow, so each redraw converts just the new points to numpy, and a curve whose data,
    axis and cap did not change is left alone: a refresh costs the same at 100 points as at 200,000.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.x_axis, top = x_axis_chooser(self.redraw)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plots: list[pg.PlotWidget] = []
        self.plot_of: dict[str, pg.PlotWidget] = {}
        self.optional: dict[pg.PlotWidget, tuple[str, ...]] = {}
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
                self.plot_of[name] = plot
            layout.addWidget(plot, stretch=1)
            plot.setVisible(title not in OPTIONAL_PANELS)
            if title in OPTIONAL_PANELS:
                self.optional[plot] = names
            self.plots.append(plot)
        self.state: RunState | None = None
        self.max_points = DEFAULT_MAX_POINTS
        self.arrays: dict[tuple[int, str], tuple[MetricSeries, GrowingArray]] = {}
        self.drawn: dict[str, tuple | None] = {}  # curve name -> what it shows (series id, length, axis, cap)

    def set_max_points(self, points: int) -> None:
        """Draw at most this many points per curve (every n-th point, the last one always)."""
        self.max_points = max(2, points)
        self.redraw()

    def show_state(self, state: RunState | None) -> None:
        """Draw this run's curves (None clears them)."""
        if state is not self.state:
            self.arrays.clear()
            self.drawn.clear()
        self.state = state
        self.redraw()

    def array(self, series: MetricSeries, attribute: str) -> np.ndarray:
        """``series.<attribute>`` as floats, updated with the points appended since the last call."""
        key = (id(series), attribute)
        entry = self.arrays.get(key)
        if entry is None or entry[0] is not series:
            entry = self.arrays[key] = (series, GrowingArray())
        return entry[1].sync(getattr(series, attribute))

    def redraw(self) -> None:
        axis = X_AXES[self.x_axis.currentText()]
        changed: list[pg.PlotWidget] = []
        for name, curve in self.curves.items():
            series: MetricSeries | None = self.state.series.get(name) if self.state else None
            points = len(series.values) if series is not None else 0
            shown = (id(series), points, axis, self.max_points) if points else None
            if name in self.drawn and self.drawn[name] == shown:
                continue  # nothing new for this curve
            self.drawn[name] = shown
            if self.plot_of[name] not in changed:
                changed.append(self.plot_of[name])
            if series is None or not points:
                curve.setData([], [])
                continue
            x, y = self.array(series, axis), self.array(series, "values")
            if len(x) > self.max_points:
                keep = np.unique(
                    np.append(np.linspace(0, len(x) - 1, self.max_points).astype(int), len(x) - 1)
                )
                x, y = x[keep], y[keep]
            curve.setData(x, y)
        for plot, names in self.optional.items():
            plot.setVisible(any(self.drawn.get(name) for name in names))
        for plot in changed:  # fit the axes to the new data now, so the next frame is drawn once, not twice
            plot.getViewBox().prepareForPaint()
