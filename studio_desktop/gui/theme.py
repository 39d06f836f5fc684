"""The app's look: the Fusion style with a light or dark palette that follows the system colour scheme."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

Role = QPalette.ColorRole
Group = QPalette.ColorGroup

DARK = {
    Role.Window: "#2b2d30",
    Role.WindowText: "#dfe1e5",
    Role.Base: "#1e1f22",
    Role.AlternateBase: "#26282b",
    Role.ToolTipBase: "#3c3f41",
    Role.ToolTipText: "#dfe1e5",
    Role.PlaceholderText: "#8c8f94",
    Role.Text: "#dfe1e5",
    Role.Button: "#3c3f41",
    Role.ButtonText: "#dfe1e5",
    Role.BrightText: "#ff6b68",
    Role.Light: "#4a4d50",
    Role.Midlight: "#404346",
    Role.Mid: "#313335",
    Role.Dark: "#1b1c1e",
    Role.Shadow: "#000000",
    Role.Highlight: "#3574f0",
    Role.HighlightedText: "#ffffff",
    Role.Link: "#589df6",
    Role.LinkVisited: "#b589ec",
}
DARK_DISABLED = {
    Role.WindowText: "#6f737a",
    Role.Text: "#6f737a",
    Role.ButtonText: "#6f737a",
    Role.Highlight: "#4a4d50",
    Role.HighlightedText: "#9da0a6",
}


def dark_palette() -> QPalette:
    """A dark palette with readable disabled text."""
    palette = QPalette()
    for role, colour in DARK.items():
        palette.setColor(role, QColor(colour))
    for role, colour in DARK_DISABLED.items():
        palette.setColor(Group.Disabled, role, QColor(colour))
    return palette


def light_palette() -> QPalette:
    """Fusion's own light palette."""
    style = QStyleFactory.create("Fusion")
    return style.standardPalette()


def palette_for(scheme: Qt.ColorScheme) -> QPalette:
    """Dark for ``Qt.ColorScheme.Dark``; light for Light and Unknown (no system preference)."""
    return dark_palette() if scheme == Qt.ColorScheme.Dark else light_palette()


def apply_theme(app: QApplication) -> None:
    """Use Fusion and the palette of the system colour scheme now and whenever it changes."""
    app.setStyle(QStyleFactory.create("Fusion"))
    hints = QGuiApplication.styleHints()

    def follow(scheme: Qt.ColorScheme) -> None:
        app.setPalette(palette_for(scheme))
        app.setProperty("studio_color_scheme", "dark" if scheme == Qt.ColorScheme.Dark else "light")

    follow(hints.colorScheme())
    if not app.property("studio_theme_connected"):
        hints.colorSchemeChanged.connect(follow)
        app.setProperty("studio_theme_connected", True)
