"""The memory verdict under the settings form: will the run fit on the device it would train on here."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtWidgets import QLabel

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.memory_plan import FITS, GIB, TIGHT, MemoryPlan
from studio_desktop.jobs.devices import PlannedDevice

Planner = Callable[[ExperimentConfig], tuple[MemoryPlan, PlannedDevice] | None]
COLORS = {FITS: "#2e7d32", TIGHT: "#b26a00"}
WILL_NOT_FIT_COLOR = "#d32f2f"
TIGHT_ADVICE = "Close other programs, or lower the batch size or max length, to leave room."


def advice(memory: MemoryPlan, config: ExperimentConfig) -> str:
    """What to change, leaving out what the run does already."""
    if memory.verdict == FITS:
        return ""
    if memory.verdict == TIGHT:
        return TIGHT_ADVICE
    steps = ["lower the batch size or max length"]
    if not memory.checkpointing:
        steps.append("turn on gradient checkpointing")
    if not config.training.lora:
        steps.append("use LoRA")
    if config.architecture.backbone_dtype not in ("int4", "int8"):
        steps.append("use 4/8-bit weights")
    return ", ".join(steps).capitalize() + "."


class MemoryVerdict(QLabel):
    """ "Memory on <device>: fits / tight / will not fit …" with each term of the estimate in the tooltip."""

    def __init__(self, planner: Planner | None) -> None:
        super().__init__(objectName="memoryVerdict", wordWrap=True)
        self.planner = planner
        self.verdict = ""
        self.hide()

    def update_for(self, config: ExperimentConfig | None) -> None:
        """Show the plan of ``config`` (hidden for an invalid config or an unknown device or backbone)."""
        planned = self.planner(config) if self.planner is not None and config is not None else None
        if planned is None:
            self.verdict = ""
            self.hide()
            return
        memory, device = planned
        self.verdict = memory.verdict
        color = COLORS.get(memory.verdict, WILL_NOT_FIT_COLOR)
        self.setText(f"Memory on {device.label}: {memory.describe()}. {advice(memory, config)}".strip())
        self.setStyleSheet(f"color: {color};")
        self.setToolTip(_breakdown(memory))
        self.show()


def _breakdown(memory: MemoryPlan) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(term)}</td><td align='right'>{size / GIB:.2f} GiB</td></tr>"
        for term, size in sorted(memory.terms.items(), key=lambda item: -item[1])
    )
    correction = (
        f"<p>Corrected ×{memory.calibration:.2f} from the peaks measured by earlier runs here.</p>"
        if memory.calibration != 1.0
        else ""
    )
    return f"<p>Estimated peak memory of the run, by term:</p><table>{rows}</table>{correction}"
