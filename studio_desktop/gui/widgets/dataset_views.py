"""Views of an imported dataset: the formatted sample with trained spans, and token-length insights."""

from __future__ import annotations

import html
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

TRAINED_BACKGROUND = "#c8ecd0"
TRAINED_FOREGROUND = "#0f3d1c"
TRAINED_STYLE = f"background-color:{TRAINED_BACKGROUND}; color:{TRAINED_FOREGROUND};"
BAR_COLOR = "#4c8bd6"
LIMIT_PEN = {"color": "#d9534f", "width": 2, "style": Qt.PenStyle.DashLine}
HISTOGRAMS = (
    ("prompt_tokens", "Prompt tokens per sample"),
    ("answer_tokens", "Answer tokens per sample"),
    ("total_tokens", "Total tokens per sample"),
)


def sample_html(segments: list[dict[str, Any]]) -> str:
    """The rendered sample as HTML: trained spans on a green background, context as plain text."""
    parts = []
    for segment in segments:
        text = html.escape(segment["text"])
        if segment["trained"]:
            text = f'<span style="{TRAINED_STYLE}">{text}</span>'
        parts.append(text)
    return f'<pre style="white-space: pre-wrap;">{"".join(parts)}</pre>'


def legend_html(meta: dict[str, Any]) -> str:
    """What the colours mean and how the sample was laid out."""
    if meta.get("kind") == "text":
        return (
            f'<span style="{TRAINED_STYLE}">&nbsp;trained&nbsp;</span> raw text: continued pretraining '
            "trains on every token, no chat template.<br><small>The start of the first training "
            "document.</small>"
        )
    template = meta.get("template", {})
    layout = "the backbone's chat template" if template.get("use_chat_template", True) else "text markers"
    return (
        f'<span style="{TRAINED_STYLE}">&nbsp;trained&nbsp;</span> answer text the loss is computed on '
        "&nbsp;&nbsp; "
        "unmarked text: context the model reads but is not trained on<br>"
        f"<small>First training conversation, laid out with {html.escape(layout)} of "
        f"{html.escape(str(meta.get('backbone', '')))}.</small>"
    )


def histogram_plot(x_label: str, y_label: str, palette: QPalette) -> pg.PlotWidget:
    """An empty, static plot in the palette's colours."""
    plot = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    text = palette.color(QPalette.ColorRole.Text)
    for side, label in (("left", y_label), ("bottom", x_label)):
        plot.getAxis(side).setTextPen(text)
        plot.setLabel(side, label, color=text.name())
    return plot


def draw_histogram(
    plot: pg.PlotWidget, title: str, histogram: dict[str, list], color: str, whole: bool = False
) -> pg.BarGraphItem:
    """Replace the plot's content with the bars of ``histogram`` (``whole``: one bar per integer)."""
    plot.clear()
    plot.setTitle(title, size="9pt", color=color)
    counts, edges = histogram["counts"], histogram["edges"]
    if whole:
        bars = pg.BarGraphItem(x=edges[:-1], width=0.8, height=counts, brush=BAR_COLOR, pen=BAR_COLOR)
        step = max(1, len(counts) // 12)
        plot.getAxis("bottom").setTicks([[(x, f"{x:.0f}") for x in edges[:-1:step]]])
    else:
        bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=BAR_COLOR, pen=BAR_COLOR)
    plot.addItem(bars)
    return bars


class InsightsPanel(QWidget):
    """Token-length histograms (prompt, answer, total), turns per conversation and the truncation share."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.bars: dict[str, pg.BarGraphItem] = {}
        grid = QGridLayout()
        labels = [(key, "tokens", "samples") for key, _ in HISTOGRAMS] + [
            ("turns_histogram", "turns", "conversations")
        ]
        for i, (key, x_label, y_label) in enumerate(labels):
            self.plots[key] = histogram_plot(x_label, y_label, self.palette())
            grid.addWidget(self.plots[key], i // 2, i % 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addLayout(grid, 1)

    def show_statistics(self, stats: dict[str, Any]) -> None:
        """Summary line and histograms of a dataset's statistics (as stored in its meta.json)."""
        raw_text = stats.get("kind") == "text"
        for key, plot in self.plots.items():
            plot.setVisible(key == "total_tokens" or not raw_text)
        if raw_text:
            self._show_text(stats)
            return
        sampled = stats.get("token_samples", stats["conversations"])
        counted = (
            f"Token lengths estimated from {sampled:,} of {stats['conversations']:,} conversations "
            "(random sample), counted with "
            if sampled < stats["conversations"]
            else "Tokens counted with "
        )
        self.label.setText(
            f"{stats['conversations']} conversations, {stats['turns']} turns. {counted}"
            f"{html.escape(str(stats['tokenizer_name']))}. "
            f"<b>{stats['truncated_share'] * 100:.1f}%</b> of the samples are longer than "
            f"max_length {stats['max_length']} and would be truncated." + capped_note(stats)
        )
        text = self.palette().color(QPalette.ColorRole.Text).name()
        for key, name in HISTOGRAMS:
            part = stats[key]
            summary = f"median {part['median']:.0f} · p95 {part['p95']:.0f} · max {part['max']}"
            title = f"{name}<br><small>{summary}</small>"
            self.bars[key] = draw_histogram(self.plots[key], title, part["histogram"], text)
        limit = stats["max_length"]
        if limit <= 2 * stats["total_tokens"]["max"]:
            label, options = f"max_length {limit}", {"position": 0.9, "color": LIMIT_PEN["color"]}
            line = pg.InfiniteLine(limit, angle=90, pen=pg.mkPen(**LIMIT_PEN), label=label, labelOpts=options)
            self.plots["total_tokens"].addItem(line)
        turns = stats["turns_histogram"]
        plot = self.plots["turns_histogram"]
        self.bars["turns_histogram"] = draw_histogram(plot, "Turns per conversation", turns, text, whole=True)

    def _show_text(self, stats: dict[str, Any]) -> None:
        """Documents, tokens and blocks of raw text, and the tokens per document."""
        how = (
            f"estimated from {stats['token_samples']:,} of the documents" if stats["estimated"] else "counted"
        )
        self.label.setText(
            f"{stats['documents']:,} documents, {stats['characters']:,} characters. "
            f"<b>{stats['tokens']:,} tokens</b> ({how} with {html.escape(str(stats['tokenizer_name']))}), "
            f"packed with an end-of-text token after each document into about <b>{stats['blocks']:,} "
            f"blocks</b> of max_length {stats['max_length']} tokens."
        )
        part = stats["document_tokens"]
        summary = f"median {part['median']:.0f} · p95 {part['p95']:.0f} · max {part['max']}"
        color = self.palette().color(QPalette.ColorRole.Text).name()
        title = f"Tokens per document<br><small>{summary}</small>"
        self.bars["total_tokens"] = draw_histogram(
            self.plots["total_tokens"], title, part["histogram"], color
        )


def capped_note(stats: dict[str, Any]) -> str:
    """A sentence on the samples counted from a prefix only (empty when there are none)."""
    count = stats.get("capped_samples", 0)
    if not count:
        return ""
    return (
        f" {count:,} sample{'s' if count > 1 else ''} longer than {stats['capped_chars']:,} characters "
        f"{'were' if count > 1 else 'was'} counted from that prefix: {'their' if count > 1 else 'its'} token "
        "counts are lower bounds."
    )
