"""A token given to runs (one reaching for the hub) lands in no file of the workdir or an export."""

from __future__ import annotations

import os
from pathlib import Path

from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.jobs.exports import export_experiment
from studio_desktop.jobs.launcher import start_training_worker

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_studioDesktopSecretProbe0123456789"


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_the_token_is_in_no_file(trained_workdir, make_config, tmp_path: Path, monkeypatch) -> None:
    wd, catalog = trained_workdir
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    experiment = create_experiment(wd, catalog, make_config("secretive", training__epochs=1))
    assert start_training_worker(wd.root, experiment.path).wait(timeout=300) == 0
    assert experiment.status() == "finished"
    out = export_experiment(wd, catalog, "secretive", "merged", tmp_path / "export")
    # A run on a hub model that is not cached tries the hub with the token and fails (offline).
    hub = create_experiment(
        wd, catalog, make_config("secretive-hub", llm_backbone="someone/not-cached", training__epochs=1)
    )
    assert start_training_worker(wd.root, hub.path).wait(timeout=300) == 1
    assert "someone/not-cached" in hub.events()[-1].message
    assert os.environ["HF_TOKEN"] == TOKEN
    assert files_containing(wd.root, TOKEN.encode()) == []
    assert files_containing(out, TOKEN.encode()) == []
