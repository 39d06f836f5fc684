"""Screenshots of the main window for the docs: ``python tools/screenshots.py OUTDIR``.

Builds a throwaway working directory (the demo dataset imported on a tiny random model, one finished tiny
experiment) through the real CLI, opens the main window and saves home/datasets/experiments/chat PNGs at
1200x780. Run it under a display, e.g. ``make screenshots`` (xvfb-run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_CSV = ROOT / "resources" / "demo" / "studio_desktop_qa.csv"
SIZE = (1200, 780)
TABS = ("home", "datasets", "experiments", "chat")


def run_cli(args: list[str], env: dict[str, str]) -> None:
    """Run ``studio-desktop ARGS`` in a child process; stop with its output when it fails."""
    command = [sys.executable, "-m", "studio_desktop", *args]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def build_workdir(base: Path, env: dict[str, str]) -> None:
    """Tiny model, demo dataset and one finished experiment in the working directory named by ``env``."""
    sys.path.insert(0, str(ROOT))
    from studio_desktop.core.config import default_config
    from studio_desktop.core.config_io import save_config
    from tests.support.tiny_model import build_tiny_model

    model = build_tiny_model(base / "tiny-model")
    run_cli(
        ["dataset", "import", str(DEMO_CSV), "--name", "studio_desktop_qa", "--backbone", str(model)], env
    )
    cfg = default_config().replace(
        {
            "experiment_name": "tiny-demo",
            "llm_backbone": str(model),
            "dataset.train_dataframe": "studio_desktop_qa",
            "dataset.validation_size": 0.2,
            "tokenizer.max_length": 64,
            "architecture.backbone_dtype": "float32",
            "architecture.gradient_checkpointing": False,
            "training.batch_size": 4,
            "training.epochs": 2,
            "training.learning_rate": 0.005,
            "prediction.max_length_inference": 8,
            "environment.mixed_precision": False,
        }
    )
    run_cli(["train", "--config", str(save_config(cfg, base / "tiny.yaml"))], env)


def capture(outdir: Path) -> list[Path]:
    """Open the main window on the prepared working directory and save one PNG per tab."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio_desktop.gui.main_window import MainWindow
    from studio_desktop.gui.theme import apply_theme
    from studio_desktop.jobs.workdir import open_workdir

    app = QApplication.instance() or QApplication(sys.argv)
    apply_theme(app)
    window = MainWindow(open_workdir())
    window.resize(*SIZE)
    window.show()
    window.datasets.select_dataset("studio_desktop_qa")
    saved = []
    for index, name in enumerate(TABS):
        window.tabs.setCurrentIndex(index)
        if name == "experiments":
            window.show_experiment("tiny-demo")
        wait(app, QEventLoop, QTimer, 1500)
        path = outdir / f"{name}.png"
        if not window.grab().save(str(path)):
            raise SystemExit(f"cannot write {path}")
        saved.append(path)
    window.close()
    return saved


def wait(app, event_loop, timer, milliseconds: int) -> None:
    """Let the window lay out, load and draw for a while (a script, not the GUI thread of the app)."""
    loop = event_loop()
    timer.singleShot(milliseconds, loop.quit)
    loop.exec()


def main(argv: list[str]) -> int:
    """Build the working directory, then capture the screenshots into ``argv[0]``."""
    if len(argv) != 1:
        print("usage: python tools/screenshots.py OUTDIR", file=sys.stderr)
        return 2
    outdir = Path(argv[0]).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="studio-screenshots-") as temporary:
        base = Path(temporary)
        env = dict(os.environ, STUDIO_DESKTOP_WORKDIR=str(base / "workdir"), HF_HUB_OFFLINE="1")
        env["XDG_CONFIG_HOME"] = str(base / "config")  # never read or write the user's workdir pointer
        env.pop("HF_HOME", None)
        for key in ("STUDIO_DESKTOP_WORKDIR", "HF_HUB_OFFLINE", "XDG_CONFIG_HOME"):
            os.environ[key] = env[key]
        os.environ.pop("HF_HOME", None)
        build_workdir(base, env)
        for path in capture(outdir):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
