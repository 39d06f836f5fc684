"""Names of backbones that need no model libraries to recognise (safe to import from the GUI)."""

from __future__ import annotations

import re

BUNDLED_BACKBONE = "HuggingFaceTB/SmolLM2-135M-Instruct"
BUNDLED_ALIAS = "bundled"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def is_bundled(spec: str) -> bool:
    """Whether ``spec`` names the bundled model (its hub id or the alias)."""
    return spec in (BUNDLED_ALIAS, BUNDLED_BACKBONE)


def is_hub_id(spec: str) -> bool:
    """Whether ``spec`` looks like a Hugging Face hub id (``owner/name``)."""
    return bool(_HUB_ID.match(spec)) and ".." not in spec
