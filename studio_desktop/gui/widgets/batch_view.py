"""The "Training data" view: the first training samples with the spans that are in the loss highlighted.

Reads ``batch_preview.json``, which the training worker writes into the experiment folder after encoding
the training samples: ``{"samples": [[{"text": str, "trained": bool}, ...], ...]}``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

from studio_desktop.core.training.preview import BATCH_PREVIEW_FILE

TRAINED_STYLE = "background-color:#c8f0c8; color:#0b3d0b;"
CONTEXT_STYLE = "color:#666666;"
LEGEND = (
    f'<span style="{TRAINED_STYLE}">&nbsp;green: in the loss&nbsp;</span> (the model learns to write it) '
    f'&nbsp; <span style="{CONTEXT_STYLE}">grey: context only</span> (label -100, not trained)'
)
EMPTY_TEXT = "No training data preview yet: it is written when the run has prepared its data."


def render_samples(samples: list[list[dict[str, Any]]]) -> str:
    """HTML of the samples, one block each, trained spans on a green background."""
    blocks = []
    for number, segments in enumerate(samples, start=1):
        spans = []
        for segment in segments:
            style = TRAINED_STYLE if segment.get("trained") else CONTEXT_STYLE
            text = html.escape(str(segment.get("text", ""))).replace("\n", "<br>")
            spans.append(f'<span style="{style}">{text}</span>')
        blocks.append(
            f"<h4>Sample {number}</h4>"
            f'<p style="white-space:pre-wrap; font-family:monospace;">{"".join(spans)}</p>'
        )
    return "<hr>".join(blocks)


class BatchView(QWidget):
    """Shows ``batch_preview.json`` of an experiment folder; re-read only when the file changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.legend = QLabel(LEGEND)
        self.legend.setToolTip(
            "The first samples of the training set as the model sees them. Only the green parts "
            "contribute to the loss; with 'mask prompt labels' on, prompts and system text stay grey."
        )
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.legend)
        layout.addWidget(self.text, stretch=1)
        self.samples: list[list[dict[str, Any]]] = []
        self.folder: Path | None = None
        self._stamp: tuple[int, int] | None = None
        self.text.setPlainText(EMPTY_TEXT)

    def show_folder(self, folder: Path | None) -> None:
        """Show the preview of the experiment in ``folder`` (None clears)."""
        path = folder / BATCH_PREVIEW_FILE if folder is not None else None
        stamp = _file_stamp(path) if path is not None else None
        if folder == self.folder and stamp == self._stamp:
            return
        self.folder, self._stamp = folder, stamp
        self.samples = []
        if stamp is None or path is None:
            self.text.setPlainText(EMPTY_TEXT)
            return
        try:
            self.samples = list(json.loads(path.read_text(encoding="utf-8"))["samples"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            self.text.setPlainText(f"Cannot read {BATCH_PREVIEW_FILE}: {err}")
            return
        self.text.setHtml(render_samples(self.samples))


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
