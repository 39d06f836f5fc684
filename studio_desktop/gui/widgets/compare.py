"""Compare runs: overlaid loss curves (one colour per run) and their configs side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio_desktop.gui.widgets.curves import X_AXES, x_axis_chooser
from studio_desktop.jobs.run_state import RunState

COMPARED_METRICS = (("train/loss", "Training loss"), ("val/loss", "Validation loss"))
RUN_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
DIFFERENT_BACKGROUND = "#fff3c4"


@dataclass
class CompareRun:
    """One run to compare: its name, its live state (updated in place by a tracker) and its config."""

    name: str
    state: RunState
    config: dict[str, Any] = field(default_factory=dict)


def flatten_config(data: dict[str, Any]) -> dict[str, Any]:
    """``{"training": {"epochs": 2}}`` → ``{"training.epochs": 2}``; top-level settings keep their name."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for name, item in value.items():
                flat[f"{key}.{name}"] = item
        else:
            flat[key] = value
    return flat


def config_rows(configs: Sequence[dict[str, Any]]) -> list[tuple[str, list[str], bool]]:
    """``(setting, value per run, differs)`` for every setting of any run, in first-seen order."""
    flats = [flatten_config(config) for config in configs]
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    rows = []
    for key in keys:
        values = ["" if key not in flat else str(flat[key]) for flat in flats]
        rows.append((key, values, len(set(values)) > 1))
    return rows


class CompareView(QDialog):
    """Overlaid train/val loss of every run and a config table; ``redraw()`` picks up new points."""

    def __init__(self, runs: Sequence[CompareRun], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs = list(runs)
        self.setWindowTitle("Compare " + ", ".join(run.name for run in self.runs))
        self.x_axis, top = x_axis_chooser(self.redraw)
        plots = QWidget()
        plots_layout = QHBoxLayout(plots)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        for metric, title in COMPARED_METRICS:
            plot = pg.PlotWidget(title=title)
            plot.setBackground("w")
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.addLegend(offset=(-10, 10))
            for index, run in enumerate(self.runs):
                self.curves[(run.name, metric)] = plot.plot(
                    [],
                    [],
                    name=run.name,
                    pen=pg.mkPen(RUN_COLORS[index % len(RUN_COLORS)], width=2),
                    symbol="o" if metric.startswith("val") else None,
                    symbolSize=5,
                    symbolBrush=RUN_COLORS[index % len(RUN_COLORS)],
                )
            plots_layout.addWidget(plot)
            self.plots[metric] = plot
        self.differences_only = QCheckBox("Differences only")
        self.differences_only.setToolTip("Hide the settings that are the same in every run")
        self.differences_only.setChecked(True)
        self.differences_only.toggled.connect(lambda _on: self._apply_filter())
        self.config_table = self._build_config_table()
        config_box = QWidget()
        config_layout = QVBoxLayout(config_box)
        config_layout.setContentsMargins(0, 0, 0, 0)
        config_layout.addWidget(self.differences_only)
        config_layout.addWidget(self.config_table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(plots)
        splitter.addWidget(config_box)
        splitter.setSizes([380, 320])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, stretch=1)
        self.resize(1100, 760)
        self._apply_filter()
        self.redraw()

    def _build_config_table(self) -> QTableWidget:
        rows = config_rows([run.config for run in self.runs])
        table = QTableWidget(len(rows), len(self.runs))
        table.setHorizontalHeaderLabels([run.name for run in self.runs])
        table.setVerticalHeaderLabels([key for key, _values, _differs in rows])
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.differs = [differs for _key, _values, differs in rows]
        for row, (_key, values, differs) in enumerate(rows):
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if differs:
                    item.setBackground(QBrush(QColor(DIFFERENT_BACKGROUND)))
                table.setItem(row, column, item)
        return table

    def _apply_filter(self) -> None:
        only = self.differences_only.isChecked()
        for row, differs in enumerate(self.differs):
            self.config_table.setRowHidden(row, only and not differs)

    def visible_settings(self) -> list[str]:
        """The settings (row names) the config table shows now."""
        table = self.config_table
        return [
            table.verticalHeaderItem(row).text()
            for row in range(table.rowCount())
            if not table.isRowHidden(row)
        ]

    def redraw(self) -> None:
        """Redraw every curve from the runs' states (they may have grown since the last call)."""
        axis = X_AXES[self.x_axis.currentText()]
        for run in self.runs:
            for metric, _title in COMPARED_METRICS:
                series = run.state.series.get(metric)
                curve = self.curves[(run.name, metric)]
                if series is None or not series.values:
                    curve.setData([], [])
                    continue
                curve.setData(
                    np.asarray(getattr(series, axis), dtype=float), np.asarray(series.values, dtype=float)
                )
