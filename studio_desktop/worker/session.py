"""One training run in the worker: resolve the inputs through the catalogue, then run the recipe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.memory_plan import MemoryPlan, plan_memory, read_model_shape
from studio_desktop.core.problem_types import PRETRAINING
from studio_desktop.core.training.recipe import RunPaths, RunSetup, Sink, load_recipe
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment
from studio_desktop.jobs.memory import memory_calibration
from studio_desktop.jobs.training_data import data_sources, load_training_conversations
from studio_desktop.jobs.training_documents import load_training_documents
from studio_desktop.jobs.workdir import Workdir

#: How each problem type reads its data when not from conversations.
TRAINING_DATA = {PRETRAINING: load_training_documents}


def run_paths(experiment: Experiment) -> RunPaths:
    """Where the run of ``experiment`` writes."""
    return RunPaths(
        folder=experiment.path,
        checkpoints=experiment.checkpoints_dir,
        model=experiment.model_dir,
        predictions=experiment.predictions_path,
    )


def run_memory_plan(
    cfg: ExperimentConfig, folder: Path, precision: Any, device: str, catalog: Catalog
) -> MemoryPlan | None:
    """The memory plan of the run on ``device``, corrected by earlier runs there (None: shape unknown)."""
    from studio_desktop.core.torch_devices import free_memory

    shape = read_model_shape(folder)
    if shape is None:
        return None
    cuda = device.startswith("cuda")
    return plan_memory(
        cfg,
        shape,
        precision,
        available=free_memory(device),
        cuda=cuda,
        calibration=memory_calibration(catalog, cuda),
    )


def _warm_start(spec: str, catalog: Catalog) -> Callable[[Any], str]:
    from studio_desktop.worker.warm_start import apply_pretrained_weights

    def load(model: Any) -> str:
        apply_pretrained_weights(model, spec, catalog)
        return f"Started from the weights of {spec}"

    return load


def run_session(
    cfg: ExperimentConfig,
    experiment: Experiment,
    workdir: Workdir,
    catalog: Catalog,
    *,
    sink: Sink,
    should_stop: Callable[[], bool],
    seed: int,
    checkpoint: Path | None,
) -> str:
    """Train ``experiment`` with the recipe of its problem type; returns "finished" or "stopped"."""
    from studio_desktop.core.backbones import resolve_backbone
    from studio_desktop.core.modeling import pick_device
    from studio_desktop.core.precision import choose_precision
    from studio_desktop.core.torch_devices import device_facts
    from studio_desktop.core.training.run import RunInputs, run_recipe

    recipe = load_recipe(cfg.problem_type)
    train, validation = TRAINING_DATA.get(cfg.problem_type, load_training_conversations)(cfg, catalog)
    device = pick_device(cfg.environment)
    precision = choose_precision(cfg, device_facts(device))
    backbone = resolve_backbone(catalog.backbone_location(cfg.llm_backbone), workdir.models)
    train_source, validation_source = data_sources(cfg, catalog)
    setup = RunSetup(
        cfg=cfg,
        paths=run_paths(experiment),
        sink=sink,
        should_stop=should_stop,
        seed=seed,
        device=device,
        precision=precision,
        memory=run_memory_plan(cfg, backbone.folder, precision, device, catalog),
        train_source=train_source,
        validation_source=validation_source,
    )
    unit = "documents" if cfg.problem_type in TRAINING_DATA else "conversations"
    setup.log(f"{len(train)} training and {len(validation)} validation {unit}")
    spec = cfg.architecture.pretrained_weights
    inputs = RunInputs(
        train=train,
        validation=validation,
        backbone_folder=backbone.folder,
        warm_start=_warm_start(spec, catalog) if spec else None,
    )
    return run_recipe(recipe, setup, inputs, checkpoint)
