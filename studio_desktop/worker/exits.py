"""Exit statuses of a training attempt, and the advice given when memory runs out."""

from __future__ import annotations

EXIT_FINISHED, EXIT_FAILED, EXIT_STOPPED, EXIT_OUT_OF_MEMORY = 0, 1, 2, 3
EXIT_BUSY = 4  # another worker runs the experiment: nothing was written
OOM_HINT = (
    "Lower training.batch_size or tokenizer.max_length, enable "
    "architecture.gradient_checkpointing, or use architecture.backbone_dtype int4 (QLoRA)."
)
