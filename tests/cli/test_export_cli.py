"""``studio-desktop export`` in a child process on an experiment trained on the tiny model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from studio_desktop.core.config import default_config
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.workdir import open_workdir
from studio_desktop.worker.train import EXIT_FINISHED, run_training
from tests.support.cli import cli, failed, ok
from tests.support.facts import FACTS


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A working directory with the finished LoRA experiment ``tiny``."""
    root = tmp_path_factory.mktemp("export-cli") / "workdir"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(root / "hf-cache"))
        wd = open_workdir(root)
        catalog = Catalog(wd.catalog_path)
        source = root.parent / "facts.csv"
        with source.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([("prompt", "answer"), *FACTS])
        request = ImportRequest(
            source=source, name="facts", backbone=str(tiny_model_dir), validation_size=0.2
        )
        import_dataset(wd, catalog, request)
        cfg = default_config().replace(
            {
                "experiment_name": "tiny",
                "llm_backbone": str(tiny_model_dir),
                "dataset.train_dataframe": "facts",
                "dataset.validation_size": 0.2,
                "tokenizer.max_length": 64,
                "architecture.backbone_dtype": "float32",
                "architecture.gradient_checkpointing": False,
                "training.epochs": 1,
                "training.save_checkpoint": "disable",
                "prediction.max_length_inference": 8,
                "environment.mixed_precision": False,
            }
        )
        experiment = create_experiment(wd, catalog, cfg)
        assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    return root


def test_export_writes_the_folder_and_names_it(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-export"
    result = cli(home, "export", "tiny", "--format", "merged", "--out", str(out))
    stdout = ok(result)
    assert stdout.strip().splitlines()[-1] == f"exported tiny (merged) to {out}"
    assert "Saving the weights" in result.stderr and "Done" in result.stderr
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert not list(tmp_path.glob(".tiny-export.*"))

    again = failed(cli(home, "export", "tiny", "--out", str(out)))
    assert "already exists" in again and "--overwrite" in again
    data = json.loads(
        ok(cli(home, "export", "tiny", "--format", "adapter", "--out", str(out), "--overwrite", "--json"))
    )
    assert data["folder"] == str(out) and data["format"] == "adapter"
    assert "adapter_model.safetensors" in data["files"] and "model.safetensors" not in data["files"]


def test_export_errors_are_one_paragraph(home: Path) -> None:
    message = failed(cli(home, "export", "no-such-run", "--format", "merged"))
    assert "no experiment named 'no-such-run'" in message and "experiment list" in message
    usage = cli(home, "export", "tiny", "--format", "onnx")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    assert not (home / "exports" / "no-such-run-merged").exists()
