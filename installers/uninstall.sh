#!/usr/bin/env bash
# Remove what installers/install.sh installed: the program folder, the command link, the menu entry and the
# icons. Never touches your data: the working directory (datasets, experiments, models, exports; by default
# ~/.local/share/studio-desktop) and the settings pointer in ~/.config/studio-desktop stay as they are.
set -euo pipefail

DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
APP_DIR="$DATA_HOME/studio-desktop-app"
BIN_DIR="${STUDIO_DESKTOP_BIN_DIR:-$HOME/.local/bin}"
MARKER=".studio-desktop-install"

case "${1:-}" in
    -h | --help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "uninstall.sh: no options besides --help" >&2; exit 2 ;;
esac

# The program folder goes only if install.sh made it (its marker file) and it holds no working directory.
if [ -d "$APP_DIR" ]; then
    if [ -f "$APP_DIR/$MARKER" ] && [ ! -e "$APP_DIR/catalog.sqlite" ]; then
        rm -rf "$APP_DIR"
        echo "Removed $APP_DIR"
    else
        echo "Left $APP_DIR alone: it was not made by install.sh" >&2
    fi
fi

# The command: only a link into the program folder (a studio-desktop from elsewhere stays).
LINK="$BIN_DIR/studio-desktop"
if [ -L "$LINK" ]; then
    case "$(readlink "$LINK")" in
        "$APP_DIR"/*) rm -f "$LINK"; echo "Removed $LINK" ;;
    esac
fi

rm -f "$DATA_HOME/applications/studio-desktop.desktop"
rm -f "$DATA_HOME"/icons/hicolor/*/apps/studio-desktop.png "$DATA_HOME"/icons/hicolor/*/apps/studio-desktop.svg
if command -v update-desktop-database > /dev/null; then
    update-desktop-database -q "$DATA_HOME/applications" 2> /dev/null || true
fi
if command -v gtk-update-icon-cache > /dev/null && [ -d "$DATA_HOME/icons/hicolor" ]; then
    gtk-update-icon-cache -q -t -f "$DATA_HOME/icons/hicolor" 2> /dev/null || true
fi
echo "Removed the menu entry and icons."

WORKDIR="${STUDIO_DESKTOP_WORKDIR:-}"
POINTER="${XDG_CONFIG_HOME:-$HOME/.config}/studio-desktop/workdir"
if [ -z "$WORKDIR" ] && [ -f "$POINTER" ]; then WORKDIR="$(head -n 1 "$POINTER")"; fi
echo "Your data was not touched: ${WORKDIR:-$DATA_HOME/studio-desktop} (delete it yourself if you want it gone)."
