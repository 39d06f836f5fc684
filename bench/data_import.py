"""Import of a 100k-row CSV (read, validate, convert, split, statistics, store) against a bare read_csv.

Prints both times (medians of ``--repeats`` runs, alternating), the ratio and the time of each import stage.
Target: at most 3x the bare read. Uses the tiny test tokenizer by default; ``--bundled`` counts tokens with
the bundled SmolLM2 tokenizer (converted once into a cache folder). Unless ``--quick``, it also times the
whole ``studio-desktop dataset import`` command against a process that imports pandas and reads the file
(what a user waits for: the import's own module imports included).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ["model", "data", "train", "tune", "learn", "token", "batch", "epoch", "answer", "prompt", "rank"]
TARGET_RATIO = 3.0
CACHE = Path(os.environ.get("STUDIO_BENCH_CACHE", Path(tempfile.gettempdir()) / "studio-desktop-bench"))
BARE_READ = "import sys, pandas as pd; pd.read_csv(sys.argv[1])"


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A prompt/answer CSV with varied lengths."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "answer"])
        for _ in range(rows):
            prompt = " ".join(rng.choices(WORDS, k=rng.randint(5, 40))) + "?"
            answer = " ".join(rng.choices(WORDS, k=rng.randint(5, 80))) + "."
            writer.writerow([prompt, answer])


def backbone_folder(bundled: bool, tmp_path: Path) -> Path:
    """The tokenizer's model folder, converted or built outside the timed region."""
    if bundled:
        from studio_desktop.core.backbones import resolve_backbone
        from studio_desktop.jobs.workdir import open_workdir

        return resolve_backbone("bundled", open_workdir(CACHE / "workdir").models).folder
    from tests.support.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path / "tiny")


def mark(marks: list[tuple[str, float]], stage: str, _fraction: float) -> None:
    marks.append((stage, time.perf_counter()))


def timed_run(command: list[str]) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each (default 3, quick 1)")
    parser.add_argument("--bundled", action="store_true", help="use the bundled backbone's tokenizer")
    parser.add_argument("--quick", action="store_true", help="one run each, no command-line timing")
    args, _unknown = parser.parse_known_args()
    repeats = args.repeats or (1 if args.quick else 3)

    import pandas as pd

    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
    from studio_desktop.jobs.workdir import open_workdir

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "bench.csv"
        write_csv(data, args.rows)
        backbone = str(backbone_folder(args.bundled, tmp_path))
        workdir = open_workdir(tmp_path / "workdir")
        catalog = Catalog(workdir.catalog_path)
        baselines, imports, rows = [], [], 0
        stages: dict[str, list[float]] = {}
        for run in range(repeats):
            start = time.perf_counter()
            rows = len(pd.read_csv(data))
            baselines.append(time.perf_counter() - start)
            marks: list[tuple[str, float]] = []
            request = ImportRequest(source=data, backbone=backbone, name=f"bench-{run}")
            start = time.perf_counter()
            record = import_dataset(workdir, catalog, request, partial(mark, marks))
            imports.append(time.perf_counter() - start)
            for (stage, begun), (_, ended) in itertools.pairwise(marks):
                stages.setdefault(stage, []).append(ended - begun)
        if not args.quick:
            command = [sys.executable, "-m", "studio_desktop", "--workdir", str(tmp_path / "cli-workdir")]
            command += ["dataset", "import", str(data), "--backbone", backbone]
            cli = timed_run(command)
            cli_bare = timed_run([sys.executable, "-c", BARE_READ, str(data)])

    baseline, candidate = statistics.median(baselines), statistics.median(imports)
    ratio = candidate / baseline
    tokenizer = "bundled SmolLM2" if args.bundled else "tiny test BPE"
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"data_import: {rows:,} rows, tokenizer {tokenizer}, median of {repeats}")
    print(f"  baseline pandas.read_csv     {baseline:8.2f} s")
    print(f"  Studio Desktop import        {candidate:8.2f} s  ({record.conversations:,} conversations)")
    for stage, seconds in stages.items():
        print(f"    {stage:<26} {statistics.median(seconds):8.3f} s")
    if not args.quick:
        print(f"  command line: dataset import {cli:6.2f} s, python + pandas + read_csv {cli_bare:6.2f} s")
    print(f"  ratio {ratio:.1f}x  (target <= {TARGET_RATIO:.0f}x: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
