"""kill -9 at 20 random moments of imports, exports, renames, deletes and training runs, each followed by the
command a user would run next; after each, the whole working directory is checked: the catalogue and the
folders agree, no half-done leftovers remain, and every run is finished or can be resumed."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import ACTIVE_STATUSES, Experiment, create_experiment
from studio_desktop.worker.train import EXIT_FINISHED, run_training
from tests.support.cli import child_env
from tests.support.facts import FACTS

KILLS = 20
LEFTOVER_MARKS = (".importing-", ".deleting-", ".tmp-", ".old-")


def start(workdir: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())


def finish(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "studio_desktop", "--workdir", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=300, check=False)


KILLED: list[str] = []  # the operations that were still running when their kill came


def kill_at_random(process: subprocess.Popen, rng: random.Random, longest: float) -> None:
    time.sleep(rng.uniform(0.0, longest))
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        KILLED.append(" ".join(map(str, process.args[5:7])))
    process.wait()


def check_workdir(root: Path) -> None:
    """The invariant every fault must leave: catalogue ↔ folders, no leftovers, runs finished or resumable."""
    catalog = Catalog(root / "catalog.sqlite")
    for kind, records in (("datasets", catalog.datasets()), ("experiments", catalog.experiments())):
        folders = {p.name for p in (root / kind).iterdir() if not p.name.startswith(".")}
        assert {r.name for r in records} == folders, kind
        for record in records:
            assert Path(record.path) == root / kind / record.name
    for parent in (root / "datasets", root / "experiments", root / "exports"):
        leftovers = [p.name for p in parent.iterdir() if any(mark in p.name for mark in LEFTOVER_MARKS)]
        assert leftovers == [], parent
    for record in catalog.experiments():
        experiment = Experiment(Path(record.path))
        assert experiment.status() not in ACTIVE_STATUSES, record.name
        if any(experiment.checkpoints_dir.glob("checkpoint-*")):
            assert experiment.latest_checkpoint() is not None, record.name


def write_big_csv(path: Path) -> Path:
    """A few thousand rows: an import takes long enough here to be cut short."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "answer"])
        for i in range(4000):
            question, answer = FACTS[i % len(FACTS)]
            writer.writerow([f"{question} ({i})", answer])
    return path


@pytest.mark.slow
def test_kills_anywhere_leave_a_consistent_working_directory(trained_workdir, make_config, tmp_path) -> None:
    wd, catalog = trained_workdir
    root = wd.root
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    backbone = make_config("x").llm_backbone
    data = write_big_csv(tmp_path / "big.csv")
    base = create_experiment(wd, catalog, make_config("base", training__epochs=1))
    assert run_training(root, base.path) == EXIT_FINISHED
    rng = random.Random(20261204)

    def import_dataset(k: int) -> None:
        name = f"imported-{k}"
        kill_at_random(
            start(root, "dataset", "import", str(data), "--name", name, "--backbone", backbone), rng, 3
        )
        again = finish(root, "dataset", "import", str(data), "--name", name, "--backbone", backbone)
        assert again.returncode == 0 or "already exists" in again.stderr, again.stderr
        assert finish(root, "dataset", "show", name).returncode == 0

    def export(k: int) -> None:
        out = root / "exports" / f"base-{k}"
        kill_at_random(start(root, "export", "base", "--format", "adapter", "--out", str(out)), rng, 3)
        again = finish(root, "export", "base", "--format", "adapter", "--out", str(out), "--overwrite")
        assert again.returncode == 0, again.stderr
        assert (out / "adapter_model.safetensors").is_file()

    def rename(k: int) -> None:
        create_experiment(wd, catalog, make_config(f"named-{k}", training__epochs=1))
        kill_at_random(start(root, "experiment", "rename", f"named-{k}", f"renamed-{k}"), rng, 2)
        if catalog.has_experiment(f"named-{k}"):
            assert finish(root, "experiment", "rename", f"named-{k}", f"renamed-{k}").returncode == 0
        assert catalog.has_experiment(f"renamed-{k}")
        config = Experiment(Path(catalog.experiment(f"renamed-{k}").path)).config()
        assert config.experiment_name == f"renamed-{k}"

    def delete(k: int) -> None:
        create_experiment(wd, catalog, make_config(f"doomed-{k}", training__epochs=1))
        kill_at_random(start(root, "experiment", "delete", f"doomed-{k}"), rng, 2)
        if catalog.has_experiment(f"doomed-{k}"):
            assert finish(root, "experiment", "delete", f"doomed-{k}").returncode == 0
        assert not (root / "experiments" / f"doomed-{k}").exists()

    def train(k: int) -> None:
        name = f"trained-{k}"
        create_experiment(wd, catalog, make_config(name, training__epochs=30))
        started = finish(root, "train", "--resume", name, "--detach")
        assert started.returncode == 0, started.stderr
        experiment = Experiment(Path(catalog.experiment(name).path))
        time.sleep(rng.uniform(0.5, 6.0))
        record = experiment.worker_record()
        if record is not None and experiment.worker_alive():
            os.kill(int(record["pid"]), signal.SIGKILL)
            KILLED.append("train")
        deadline = time.monotonic() + 30
        while experiment.worker_alive():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        if experiment.status() != "finished":
            resumed = finish(root, "train", "--resume", name)
            assert resumed.returncode == 0, resumed.stderr
        assert experiment.status() == "finished"

    operations = [import_dataset, export, rename, delete, train]
    KILLED.clear()
    for k in range(KILLS):
        operations[k % len(operations)](k)
        check_workdir(root)
    # Many kills cut an operation short (the others came after it had ended, which must hold too).
    assert len(KILLED) >= KILLS // 3, KILLED
