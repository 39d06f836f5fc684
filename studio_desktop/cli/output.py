"""Terminal output helpers: JSON, aligned tables and a progress line on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table, or a short note when there are no rows."""
    if not rows:
        print("(none)")
        return
    texts = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in texts)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in texts:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


class ProgressLine:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.tty = sys.stderr.isatty()
        self.last_stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        filled = int(self.width * max(0.0, min(1.0, fraction)))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {fraction * 100:3.0f}% {stage}"
        if self.tty:
            sys.stderr.write("\r" + line.ljust(self.width + 40))
            if fraction >= 1.0:
                sys.stderr.write("\n")
        elif stage != self.last_stage:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self.last_stage = stage

    def message(self, text: str) -> None:
        """Progress reported as text only (e.g. a model conversion)."""
        self(text, 0.0) if not self.tty else sys.stderr.write("\r" + text.ljust(self.width + 40))
