"""Put this folder on a worker's PYTHONPATH to make its training run out of memory at a chosen step.

Python runs ``sitecustomize`` at start-up. With ``STUDIO_TEST_OOM`` set, every training step from global
step ``STUDIO_TEST_OOM_AT_STEP`` on, with a micro-batch above ``STUDIO_TEST_OOM_ABOVE_BATCH``, runs out of
memory:

- ``allocation``: torch raises ``torch.OutOfMemoryError``, as a CUDA allocation that fails does;
- ``kernel``: the process moves into the memory cgroup ``STUDIO_TEST_OOM_CGROUP`` (a few hundred MiB) and
  allocates until the kernel's OOM killer ends it with SIGKILL.

Only the Trainer's ``training_step`` is wrapped, when ``transformers.trainer`` is first imported; processes
that never import it (the supervisor) are untouched.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

MODE = os.environ.get("STUDIO_TEST_OOM", "")
AT_STEP = int(os.environ.get("STUDIO_TEST_OOM_AT_STEP", "0"))
ABOVE_BATCH = int(os.environ.get("STUDIO_TEST_OOM_ABOVE_BATCH", "1"))
CGROUP = os.environ.get("STUDIO_TEST_OOM_CGROUP", "")


def run_out_of_memory() -> None:
    if MODE == "allocation":
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)")
    Path(CGROUP, "cgroup.procs").write_text(str(os.getpid()))
    hog = []
    while True:  # the kernel ends this process once the cgroup's limit is reached
        hog.append(bytearray(16 * 2**20))
        for offset in range(0, len(hog[-1]), 4096):
            hog[-1][offset] = 1


def patch(trainer_class: Any) -> None:
    original = trainer_class.training_step

    def training_step(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.state.global_step >= AT_STEP and self.args.per_device_train_batch_size > ABOVE_BATCH:
            run_out_of_memory()
        return original(self, *args, **kwargs)

    trainer_class.training_step = training_step


class PatchTrainerOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "transformers.trainer":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            patch(module.Trainer)

        spec.loader.exec_module = exec_module
        return spec


if MODE:
    sys.meta_path.insert(0, PatchTrainerOnImport())
