"""Run every benchmark in this folder, one process each, and print their reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = ["data_import.py"]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        failed |= subprocess.run([sys.executable, str(here / name)], check=False).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
