"""``batch_preview.json``: the first training samples as decoded text spans, marked trained or not.

The GUI's "Training data" view reads this file; it shows which parts of a sample are in the loss
(label is a token id) and which are context only (label ``-100``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BATCH_PREVIEW_FILE = "batch_preview.json"
MAX_PREVIEW_SAMPLES = 4
IGNORE_INDEX = -100


def sample_segments(tokenizer: Any, input_ids: Sequence[int], labels: Sequence[int]) -> list[dict[str, Any]]:
    """Consecutive runs of trained / untrained tokens, each decoded: ``[{"text": str, "trained": bool}]``."""
    segments: list[dict[str, Any]] = []
    start = 0
    for end in range(1, len(input_ids) + 1):
        if end == len(input_ids) or (labels[end] != IGNORE_INDEX) != (labels[start] != IGNORE_INDEX):
            text = tokenizer.decode(list(input_ids[start:end]), skip_special_tokens=False)
            segments.append({"text": text, "trained": labels[start] != IGNORE_INDEX})
            start = end
    return segments


def write_batch_preview(folder: Path, tokenizer: Any, samples: Sequence[Any], batch_size: int) -> Path:
    """Write the first ``min(batch_size, 4)`` samples (objects with ``input_ids`` and ``labels``) as JSON."""
    count = min(batch_size, MAX_PREVIEW_SAMPLES)
    preview = {
        "samples": [sample_segments(tokenizer, sample.input_ids, sample.labels) for sample in samples[:count]]
    }
    path = Path(folder) / BATCH_PREVIEW_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(preview, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
