"""Bundle smoke test: the frozen app imports a dataset, trains and chats through its own frozen workers,
prepares the bundled model on first start, and opens and closes its window cleanly.

Runs only when ``STUDIO_DESKTOP_BUNDLE`` names the frozen executable: ``make bundle-test`` builds
``dist/studio-desktop`` and sets it. Plain ``make test`` skips this module.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from studio_desktop.jobs.datasets import DEMO_DATASET_NAME
from tests.support.facts import FACTS

BUNDLE = os.environ.get("STUDIO_DESKTOP_BUNDLE", "")
# A few steps on the tiny model. Written out (not dumped from this source tree) so that it only names settings
# every build knows.
TRAIN_CONFIG = """\
experiment_name: frozen-run
llm_backbone: {backbone}
dataset:
  train_dataframe: facts
  validation_size: 0.2
tokenizer:
  max_length: 64
architecture:
  backbone_dtype: float32
training:
  batch_size: 2
  epochs: 1
prediction:
  max_length_inference: 8
environment:
  mixed_precision: false
"""

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.skipif(
        not (BUNDLE and os.access(BUNDLE, os.X_OK)),
        reason="set STUDIO_DESKTOP_BUNDLE to the frozen executable (make bundle-test)",
    ),
]


def frozen_env() -> dict[str, str]:
    """The environment of a user's shell: no source tree on the path, offline, no inherited workdir."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen"}
    for name in ("PYTHONPATH", "HF_HOME", "STUDIO_DESKTOP_WORKDIR", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def frozen(workdir: Path, *args: str, timeout: float = 300, check: bool = True) -> str:
    """Run ``studio-desktop --workdir WORKDIR ARGS`` from the bundle; it must succeed unless not ``check``.

    Returns stdout; without ``check``, the exit code, stdout and stderr.
    """
    result = subprocess.run(
        [BUNDLE, "--workdir", str(workdir), *args],
        capture_output=True,
        text=True,
        env=frozen_env(),
        cwd=workdir.parent,
        timeout=timeout,
        check=False,
    )
    details = f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    if not check:
        return details
    assert result.returncode == 0, details
    assert "Traceback" not in result.stderr, details
    return result.stdout


def test_help_and_version(tmp_path: Path) -> None:
    assert "Without a command the desktop window opens" in frozen(tmp_path / "w", "--help")
    assert frozen(tmp_path / "w", "--version").startswith("studio-desktop ")


def test_import_train_and_chat_through_the_frozen_workers(tmp_path: Path, tiny_model_dir: Path) -> None:
    workdir = tmp_path / "workdir"
    source = tmp_path / "facts.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "answer"])
        writer.writerows(FACTS)
    frozen(workdir, "dataset", "import", str(source), "--name", "facts", "--backbone", str(tiny_model_dir))
    assert [d["name"] for d in json.loads(frozen(workdir, "dataset", "list", "--json"))] == ["facts"]

    config = tmp_path / "cfg.yaml"
    config.write_text(TRAIN_CONFIG.format(backbone=json.dumps(str(tiny_model_dir))), encoding="utf-8")
    # `train` starts `studio-desktop worker train ...` (the bundle's own executable) and follows it.
    frozen(workdir, "train", "--config", str(config), timeout=600)
    shown = json.loads(frozen(workdir, "experiment", "show", "frozen-run", "--json"))
    assert shown["status"] == "finished", shown
    assert shown["step"] == shown["total_steps"] >= 4, shown
    assert "train/loss" in shown["metrics"], shown

    # `chat --prompt` talks to `studio-desktop worker chat ...` over its JSON-lines protocol; it exits with 0
    # once the worker said `done` (what a one-epoch random model answers is mostly blank).
    frozen(workdir, "chat", "frozen-run", "--prompt", "What colour is the sky?")


def children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def window_output(log: Path, workdir: Path) -> str:
    """What the window printed (without the offscreen platform's chatter) and the errors it logged."""
    lines = [line for line in log.read_text().splitlines() if "propagateSizeHints" not in line]
    errors = workdir / "logs" / "gui-errors.log"
    return "\n".join(lines) + (f"\n{errors}:\n{errors.read_text()}" if errors.exists() else "")


def test_window_prepares_the_demo_and_quits_on_sigterm(tmp_path: Path) -> None:
    """First start from the bundle (GGUF conversion and demo import in a frozen child), then a clean exit."""
    workdir = tmp_path / "fresh"
    log = tmp_path / "gui.log"
    errors = workdir / "logs" / "gui-errors.log"
    with log.open("w") as output:
        window = subprocess.Popen(
            [BUNDLE, "--workdir", str(workdir)], stdout=output, stderr=subprocess.STDOUT, env=frozen_env()
        )
        try:
            deadline = time.monotonic() + 420
            names: list[str] = []
            init_seen = init_gone = False
            while DEMO_DATASET_NAME not in names:
                assert window.poll() is None and not errors.exists(), window_output(log, workdir)
                assert not init_gone, "the first-start child ended without the demo dataset\n" + (
                    frozen(workdir, "init", check=False) + window_output(log, workdir)
                )
                assert time.monotonic() < deadline, "first start unfinished\n" + window_output(log, workdir)
                time.sleep(3)
                running_init = any(child.cmdline()[-1:] == ["init"] for child in children(window.pid))
                init_gone, init_seen = init_seen and not running_init, init_seen or running_init
                if (workdir / "catalog.sqlite").exists():
                    names = [d["name"] for d in json.loads(frozen(workdir, "dataset", "list", "--json"))]
            time.sleep(2)  # let the window see its child finish
            window.send_signal(signal.SIGTERM)
            code = window.wait(timeout=60)
        finally:
            if window.poll() is None:
                window.kill()
    text = window_output(log, workdir)
    assert code == 0, text
    assert "Traceback" not in text and not errors.exists(), text
    backbones = frozen(workdir, "backbone", "list")
    assert "SmolLM2" in backbones, backbones
