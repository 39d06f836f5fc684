"""The bundled backbone end to end through the CLI: prepare, train a few steps, export, load the export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio_desktop.core.resources import demo_config_file

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def studio(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_demo_config_trains_the_bundled_backbone_and_exports_it(tmp_path: Path) -> None:
    workdir = tmp_path / "workdir"
    init = studio(workdir, "init")
    assert init.returncode == 0, init.stderr
    assert "demo dataset imported: studio-desktop-demo" in init.stdout

    train = studio(
        workdir,
        "train",
        "--config",
        str(demo_config_file()),
        "--set",
        "training.epochs=1",
        "--set",
        "dataset.data_sample=0.05",
        "--set",
        "prediction.max_length_inference=16",
        "--set",
        "tokenizer.max_length=128",
    )
    assert train.returncode == 0, train.stderr
    assert "finished at step" in train.stderr

    out = tmp_path / "export"
    export = studio(workdir, "export", "studio-desktop-demo", "--format", "merged", "--out", str(out))
    assert export.returncode == 0, export.stderr

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
