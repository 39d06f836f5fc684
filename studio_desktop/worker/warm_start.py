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
        load_full_weights(model, folder, spec)


def load_full_weights(model: Any, folder: Path, spec: str) -> None:
    """Load every weight of the safetensors files in ``folder`` (one file or shards) into ``model``; a weight
    the files lack is refused unless it is tied to one they hold (an output layer sharing the embeddings)."""
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ConfigError(
            f"architecture.pretrained_weights = {spec!r}: {folder} holds no .safetensors weights."
        )
    state: dict[str, Any] = {}
    for file in files:
        state.update(load_file(file))
    result = model.load_state_dict(state, strict=False)
    own = model.state_dict()
    loaded = {own[name].data_ptr() for name in state if name in own}
    missing = [name for name in result.missing_keys if own[name].data_ptr() not in loaded]
    if missing or result.unexpected_keys:
        problems = [f"missing {', '.join(missing[:3])}" if missing else ""]
        problems += [f"unknown {', '.join(result.unexpected_keys[:3])}" if result.unexpected_keys else ""]
        raise ConfigError(
            f"architecture.pretrained_weights = {spec!r} does not fit this model "
            f"({'; '.join(p for p in problems if p)}): start from an experiment with the same backbone and "
            "problem type."
        )
