"""Render resources/icons/studio-desktop.svg into the PNG sizes desktops ask for (16 to 512 px).

Uses Qt's own SVG renderer (QtSvg ships with PySide6-Essentials), so nothing beyond the app's packages is
needed: ``.venv/bin/python installers/render_icons.py``. The PNGs are committed; rerun after editing the SVG.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SVG = ICONS / "studio-desktop.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(size: int) -> Path:
    """Draw the SVG into a transparent ``size`` x ``size`` PNG next to it and return the file."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    out = ICONS / f"studio-desktop-{size}.png"
    if not image.save(str(out)):
        raise OSError(f"cannot write {out}")
    return out


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841 (QImage text needs an app)
    for size in SIZES:
        print(render(size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
