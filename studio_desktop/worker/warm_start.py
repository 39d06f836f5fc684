"""Start a run from the weights of an earlier experiment or a saved model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio_desktop.core.errors import ConfigError
from studio_desktop.jobs.catalog import Catalog
from studio_desktop.jobs.experiment import Experiment


def pretrained_folder(spec: str, catalog: Catalog) -> Path:
    """The weights folder named by ``architecture.pretrained_weights``: an experiment name or a path."""
    folder = (
        Experiment(Path(catalog.experiment(spec).path)).model_dir
        if catalog.has_experiment(spec)
        else Path(spec)
    )
    if not folder.is_dir():
        raise ConfigError(
            f"architecture.pretrained_weights = {spec!r}: "
            "no finished experiment of that name and no such folder."
        )
    return folder


def apply_pretrained_weights(model: Any, spec: str, catalog: Catalog) -> None:
    """Load an adapter into a LoRA model, or full weights into a fully trained model."""
    folder = pretrained_folder(spec, catalog)
    adapter = folder / "adapter_model.safetensors"
    is_peft = hasattr(model, "peft_config")
    if adapter.exists() != is_peft:
        kind = "a LoRA adapter" if adapter.exists() else "a full model"
        raise ConfigError(
            f"architecture.pretrained_weights = {spec!r} holds {kind}; "
            f"set training.lora = {str(not is_peft).lower()} to continue from it."
        )
    if is_peft:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(adapter))
    else:
        from transformers.modeling_utils import load_sharded_checkpoint

        load_sharded_checkpoint(model, folder, strict=True)
