"""First start: convert the bundled backbone and register the demo dataset, once per working directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from studio_desktop.core.backbone_names import BUNDLED_BACKBONE
from studio_desktop.core.backbones import resolve_backbone
from studio_desktop.core.resources import demo_dataset_file
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.datasets import DEMO_DATASET_NAME, DEMO_DONE_KEY
from studio_desktop.jobs.workdir import Workdir

DEMO_MAX_LENGTH = 256


def prepare_workdir(
    workdir: Workdir,
    catalog: Catalog,
    progress: Callable[[str, float], None],
    backbone: str = BUNDLED_BACKBONE,
    demo_file: Path | None = None,
) -> list[str]:
    """Make the bundled backbone ready and import the demo dataset unless it was imported before.

    A demo dataset the user deleted is not imported again. Returns what was done, for the user.
    """
    done: list[str] = []
    progress("Preparing the backbone", 0.0)
    resolved = resolve_backbone(backbone, workdir.models, lambda text: progress(text, 0.0))
    done.append(f"backbone ready: {resolved.folder}")
    if catalog.get_setting(DEMO_DONE_KEY, False):
        return done
    if not catalog.has_dataset(DEMO_DATASET_NAME):
        request = ImportRequest(
            source=demo_file or demo_dataset_file(),
            name=DEMO_DATASET_NAME,
            backbone=backbone,
            max_length=DEMO_MAX_LENGTH,
        )
        record = import_dataset(workdir, catalog, request, progress)
        done.append(f"demo dataset imported: {record.name} ({record.conversations} conversations)")
    catalog.set_setting(DEMO_DONE_KEY, True)
    return done
