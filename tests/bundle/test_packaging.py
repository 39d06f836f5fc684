"""Packaging pieces that need no bundle (these run in ``make test``): the icon set, the window's clean exit
on SIGTERM, and install.sh / uninstall.sh on a stand-in bundle in a scratch home folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from studio_desktop.core.resources import resources_dir
from studio_desktop.gui.app import ICON_SIZES, app_icon, close_on_terminate

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ROOT / "installers"


def test_icon_pngs_at_every_size_and_in_the_window_icon(qtbot) -> None:
    from PySide6.QtGui import QImage

    icons = resources_dir() / "icons"
    assert (icons / "studio-desktop.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    for size in ICON_SIZES:
        image = QImage(str(icons / f"studio-desktop-{size}.png"))
        assert (image.width(), image.height()) == (size, size)
    assert {size.width() for size in app_icon().availableSizes()} == set(ICON_SIZES)


def test_sigterm_closes_the_window(qtbot) -> None:
    from PySide6.QtWidgets import QWidget

    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    try:
        close_on_terminate(window)
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    """A folder shaped like dist/studio-desktop: the executable (a script here), _internal/resources/icons."""
    bundle = tmp_path / "studio-desktop"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    shutil.copytree(resources_dir() / "icons", bundle / "_internal" / "resources" / "icons")
    program = bundle / "studio-desktop"
    program.write_text("#!/bin/sh\necho studio-desktop 0.0-test\n", encoding="utf-8")
    program.chmod(0o755)
    for name in ("install.sh", "uninstall.sh", "studio-desktop.desktop"):
        shutil.copy2(INSTALLERS / name, bundle / name)
    return bundle


def run_script(script: Path, home: Path, *args: str) -> str:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    result = subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_install_from_a_bundle_then_uninstall_keeps_the_data(tmp_path: Path, fake_bundle: Path) -> None:
    home = tmp_path / "home"
    share = home / ".local" / "share"
    workdir = share / "studio-desktop"  # the default working directory, with some data in it
    (workdir / "experiments" / "mine").mkdir(parents=True)
    (workdir / "catalog.sqlite").write_bytes(b"data")

    out = run_script(fake_bundle / "install.sh", home)  # run from inside the bundle, as a user would
    assert "studio-desktop 0.0-test" in out
    program = share / "studio-desktop-app" / "bundle" / "studio-desktop"
    assert program.is_file()
    assert (home / ".local" / "bin" / "studio-desktop").resolve() == program.resolve()
    entry = (share / "applications" / "studio-desktop.desktop").read_text(encoding="utf-8")
    assert "Name=Studio Desktop" in entry
    assert f'Exec="{program}"' in entry
    assert "Icon=studio-desktop" in entry
    for size in ICON_SIZES:
        assert (share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "studio-desktop.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "studio-desktop.svg").is_file()

    out = run_script(INSTALLERS / "uninstall.sh", home)
    assert not (share / "studio-desktop-app").exists()
    assert not (home / ".local" / "bin" / "studio-desktop").exists()
    assert not (share / "applications" / "studio-desktop.desktop").exists()
    assert not list((share / "icons").rglob("studio-desktop.*"))
    assert (workdir / "catalog.sqlite").read_bytes() == b"data"
    assert (workdir / "experiments" / "mine").is_dir()
    assert str(workdir) in out


def test_uninstall_leaves_a_folder_it_did_not_make(tmp_path: Path) -> None:
    home = tmp_path / "home"
    foreign = home / ".local" / "share" / "studio-desktop-app"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("mine", encoding="utf-8")
    run_script(INSTALLERS / "uninstall.sh", home)
    assert (foreign / "keep.txt").read_text(encoding="utf-8") == "mine"
