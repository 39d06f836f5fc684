"""Run every benchmark in this folder, one process each, print their reports, then every target line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = [
    "train_throughput.py",
    "dpo_throughput.py",
    "gui_startup.py",
    "chat_latency.py",
    "data_import.py",
    "gguf_export.py",
]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = 0
    verdicts: list[str] = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        process = subprocess.run(
            [sys.executable, str(here / name), *sys.argv[1:]], check=False, capture_output=True, text=True
        )
        print(process.stdout, end="", flush=True)
        print(process.stderr[-4000:], end="", file=sys.stderr, flush=True)
        failed |= process.returncode
        verdicts += [f"{name}: {line.strip()}" for line in process.stdout.splitlines() if "(target" in line]
    print("== summary")
    print("\n".join(verdicts))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
