"""Import of a 100k-row CSV (read, validate, convert, split, statistics, store) against a bare read_csv.

Prints both times and the ratio. Target: at most 3x the bare read. Uses the tiny test tokenizer by default;
``--bundled`` counts tokens with the bundled SmolLM2 tokenizer (converted once into the bench workdir).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ["model", "data", "train", "tune", "learn", "token", "batch", "epoch", "answer", "prompt", "rank"]
TARGET_RATIO = 3.0


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--bundled", action="store_true", help="use the bundled backbone's tokenizer")
    args = parser.parse_args()

    import pandas as pd

    from studio_desktop.jobs.catalog import Catalog
    from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
    from studio_desktop.jobs.workdir import open_workdir

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "bench.csv"
        write_csv(data, args.rows)
        if args.bundled:
            backbone = "bundled"
        else:
            from tests.support.tiny_model import build_tiny_model

            backbone = str(build_tiny_model(tmp_path / "tiny"))
        workdir = open_workdir(tmp_path / "workdir")
        catalog = Catalog(workdir.catalog_path)
        if args.bundled:  # convert outside the timed region
            from studio_desktop.core.backbones import resolve_backbone

            resolve_backbone(backbone, workdir.models)

        start = time.perf_counter()
        frame = pd.read_csv(data)
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        record = import_dataset(workdir, catalog, ImportRequest(source=data, backbone=backbone, name="bench"))
        candidate = time.perf_counter() - start

    ratio = candidate / baseline
    tokenizer = "bundled SmolLM2" if args.bundled else "tiny test BPE"
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"data_import: {len(frame):,} rows, tokenizer {tokenizer}")
    print(f"  baseline pandas.read_csv     {baseline:8.2f} s")
    print(f"  Studio Desktop import        {candidate:8.2f} s  ({record.conversations:,} conversations)")
    print(f"  ratio {ratio:.1f}x  (target <= {TARGET_RATIO:.0f}x: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
