#!/usr/bin/env bash
# Install Studio Desktop for the current user (no root needed):
#   program      ${XDG_DATA_HOME:-~/.local/share}/studio-desktop-app/  (a copy of the bundle, or a venv)
#   command      ~/.local/bin/studio-desktop
#   menu entry   ${XDG_DATA_HOME:-~/.local/share}/applications/studio-desktop.desktop
#   icons        ${XDG_DATA_HOME:-~/.local/share}/icons/hicolor/<size>/apps/studio-desktop.{png,svg}
# Your data (the working directory, ~/.local/share/studio-desktop by default) is never written here, and
# installers/uninstall.sh never removes it.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: install.sh [--bundle [DIR] | --source] [--no-menu]

  --bundle [DIR]  install a PyInstaller bundle: DIR, else the bundle this script sits in, else
                  dist/studio-desktop of this source tree (built by `make bundle`)
  --source        install from this source tree into a virtual environment; the torch build comes from
                  TORCH_INDEX_URL when set (e.g. https://download.pytorch.org/whl/cpu or .../cu128),
                  else from PyPI (a CUDA build on Linux x86-64)
  --no-menu       skip the menu entry and icons
Without --bundle or --source: the bundle when one is found, else the source tree.
Environment: PYTHON (default python3, for --source), XDG_DATA_HOME, STUDIO_DESKTOP_BIN_DIR (~/.local/bin).
EOF
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
APP_DIR="$DATA_HOME/studio-desktop-app"
BIN_DIR="${STUDIO_DESKTOP_BIN_DIR:-$HOME/.local/bin}"
MARKER=".studio-desktop-install"  # uninstall.sh removes a program folder only when it holds this file
MODE=""
BUNDLE=""
MENU=1

while [ $# -gt 0 ]; do
    case "$1" in
        --bundle)
            MODE=bundle
            if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then BUNDLE="$2"; shift; fi ;;
        --source) MODE=source ;;
        --no-menu) MENU=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

die() { echo "install.sh: $*" >&2; exit 1; }

# Where things are: a bundle carries this script (and the desktop entry) in its top folder; a source tree
# has it in installers/.
if [ -x "$HERE/studio-desktop" ] && [ -d "$HERE/_internal" ]; then
    SOURCE_TREE=""
    FOUND_BUNDLE="$HERE"
else
    SOURCE_TREE="$(cd "$HERE/.." && pwd)"
    FOUND_BUNDLE=""
    [ -x "$SOURCE_TREE/dist/studio-desktop/studio-desktop" ] && FOUND_BUNDLE="$SOURCE_TREE/dist/studio-desktop"
fi
if [ -z "$MODE" ]; then
    if [ -n "$FOUND_BUNDLE" ]; then MODE=bundle; else MODE=source; fi
fi

# Never install over a working directory.
case "$APP_DIR" in
    "$DATA_HOME/studio-desktop" | "$DATA_HOME/studio-desktop/"*) die "refusing to install into the data folder" ;;
esac
[ -e "$APP_DIR/catalog.sqlite" ] && die "$APP_DIR holds a working directory (catalog.sqlite); not touching it"

mkdir -p "$APP_DIR" "$BIN_DIR"
touch "$APP_DIR/$MARKER"

if [ "$MODE" = bundle ]; then
    BUNDLE="${BUNDLE:-$FOUND_BUNDLE}"
    [ -n "$BUNDLE" ] || die "no bundle found: run 'make bundle' first, or pass --bundle DIR or --source"
    BUNDLE="$(cd "$BUNDLE" && pwd)"
    [ -x "$BUNDLE/studio-desktop" ] || die "$BUNDLE/studio-desktop is not an executable"
    echo "Installing the bundle $BUNDLE into $APP_DIR/bundle"
    rm -rf "$APP_DIR/bundle.new"
    cp -a "$BUNDLE" "$APP_DIR/bundle.new"
    rm -rf "$APP_DIR/bundle" "$APP_DIR/venv" "$APP_DIR/src"
    mv "$APP_DIR/bundle.new" "$APP_DIR/bundle"
    PROGRAM="$APP_DIR/bundle/studio-desktop"
    ICONS="$APP_DIR/bundle/_internal/resources/icons"
    DESKTOP_TEMPLATE="$APP_DIR/bundle/studio-desktop.desktop"
else
    [ -n "$SOURCE_TREE" ] || die "--source needs the source tree (this script is inside a bundle)"
    PYTHON="${PYTHON:-python3}"
    TORCH_VERSION="$(sed -n 's/^TORCH_VERSION := *//p' "$SOURCE_TREE/Makefile")"
    BACKBONE="$(sed -n 's/^BUNDLED_BACKBONE := *//p' "$SOURCE_TREE/Makefile")"
    echo "Installing from $SOURCE_TREE into $APP_DIR (virtual environment; torch $TORCH_VERSION)"
    # A copy of the sources (the app finds resources/ beside its package), so the checkout may move or go.
    rm -rf "$APP_DIR/src.new"
    mkdir -p "$APP_DIR/src.new"
    tar -C "$SOURCE_TREE" --exclude=__pycache__ -cf - studio_desktop resources pyproject.toml README.md \
        | tar -C "$APP_DIR/src.new" -xf -
    rm -rf "$APP_DIR/src" "$APP_DIR/bundle"
    mv "$APP_DIR/src.new" "$APP_DIR/src"
    [ -x "$APP_DIR/venv/bin/python" ] || "$PYTHON" -m venv "$APP_DIR/venv"
    PIP=("$APP_DIR/venv/bin/python" -m pip install --quiet)
    "${PIP[@]}" --upgrade pip
    # torch first, from the chosen index, so that installing the app never swaps in another build.
    "${PIP[@]}" "torch==$TORCH_VERSION" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
    "${PIP[@]}" -e "$APP_DIR/src"
    "${PIP[@]}" --no-deps "$BACKBONE"
    PROGRAM="$APP_DIR/venv/bin/studio-desktop"
    ICONS="$APP_DIR/src/resources/icons"
    DESKTOP_TEMPLATE="$SOURCE_TREE/installers/studio-desktop.desktop"
fi

ln -sfn "$PROGRAM" "$BIN_DIR/studio-desktop"
echo "Command: $BIN_DIR/studio-desktop"
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) echo "  ($BIN_DIR is not on your PATH; add it, or start the app from the menu)" ;;
esac

if [ "$MENU" = 1 ]; then
    [ -f "$DESKTOP_TEMPLATE" ] || DESKTOP_TEMPLATE="$HERE/studio-desktop.desktop"
    [ -f "$DESKTOP_TEMPLATE" ] || die "desktop entry template not found"
    for size in 16 24 32 48 64 128 256 512; do
        install -D -m 644 "$ICONS/studio-desktop-$size.png" \
            "$DATA_HOME/icons/hicolor/${size}x${size}/apps/studio-desktop.png"
    done
    install -D -m 644 "$ICONS/studio-desktop.svg" "$DATA_HOME/icons/hicolor/scalable/apps/studio-desktop.svg"
    mkdir -p "$DATA_HOME/applications"
    # The menu entry runs the installed program by its full path (~/.local/bin is often not on the
    # desktop session's PATH).
    sed -e "s|^Exec=.*|Exec=\"$PROGRAM\"|" -e "s|^TryExec=.*|TryExec=$PROGRAM|" "$DESKTOP_TEMPLATE" \
        > "$DATA_HOME/applications/studio-desktop.desktop"
    chmod 644 "$DATA_HOME/applications/studio-desktop.desktop"
    if command -v update-desktop-database > /dev/null; then
        update-desktop-database -q "$DATA_HOME/applications" || true
    fi
    if command -v gtk-update-icon-cache > /dev/null; then
        gtk-update-icon-cache -q -t -f "$DATA_HOME/icons/hicolor" || true
    fi
    echo "Menu entry: $DATA_HOME/applications/studio-desktop.desktop (\"Studio Desktop\")"
fi

"$PROGRAM" --version
echo "Done. Your data goes to the working directory (default $DATA_HOME/studio-desktop); uninstall.sh keeps it."
