"""Load a backbone for fine-tuning, attach LoRA adapters, save the result and load it back for inference.

torch, transformers, peft and bitsandbytes are imported inside functions only, so this module imports fast.
Every failure a user can act on is raised as a StudioError subclass with a message meant for them.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_desktop.core.backbones import load_tokenizer
from studio_desktop.core.errors import BackboneError, ConfigError
from studio_desktop.core.files import write_folder
from studio_desktop.core.head_shape import HeadShape
from studio_desktop.core.precision import (
    QUANTIZED,
    Precision,
    choose_precision,
    inference_weights,
)
from studio_desktop.core.problem_types import HEAD_TYPES
from studio_desktop.core.torch_devices import device_facts

if TYPE_CHECKING:
    from studio_desktop.core.config import ExperimentConfig
    from studio_desktop.core.config_sections import EnvironmentSection

ADAPTER_CONFIG = "adapter_config.json"
# Config fields that hold a dropout rate inside the backbone, across the common architectures.
DROPOUT_FIELDS = (
    "attention_dropout",
    "hidden_dropout",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "resid_pdrop",
    "embd_pdrop",
    "attn_pdrop",
    "activation_dropout",
    "dropout",
    "ffn_dropout",
)
NOISY_LOGGERS = ("bitsandbytes", "peft")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
HEAD_MODULE = "score"  # the linear head of transformers' ...ForSequenceClassification models


def _silence_noisy_loggers() -> None:
    """Keep the info/warning chatter of bitsandbytes (e.g. one line per 8-bit matmul) and peft out of logs."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def _no_future_warnings() -> Iterator[None]:
    """Hide the deprecation notices that peft triggers inside transformers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def pick_device(environment: EnvironmentSection) -> str:
    """``cuda:N`` for the first selected GPU (the first visible one if none is selected), else ``cpu``.

    GPU indices are physical ones; when ``CUDA_VISIBLE_DEVICES`` lists the selected index, its position in
    that list is used, as CUDA renumbers the visible devices from 0.
    """
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    if not environment.gpus:
        return "cuda:0"
    selected = environment.gpus[0].strip()
    visible = [part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    if selected in visible:
        return f"cuda:{visible.index(selected)}"
    if not selected.isdigit():
        raise ConfigError(f"environment.gpus = {list(environment.gpus)!r}: GPU indices must be numbers.")
    count = torch.cuda.device_count()
    if int(selected) >= count:
        raise ConfigError(
            f"environment.gpus selects GPU {selected}, but only {count} GPU(s) are visible "
            f"(indices 0 to {count - 1})."
        )
    return f"cuda:{int(selected)}"


def _is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def _check_model_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise BackboneError(f"Model folder not found: {folder}")
    if not (folder / "config.json").is_file():
        raise BackboneError(f"The folder {folder} is not a model folder: it has no config.json.")


def _check_supported(cfg: ExperimentConfig, precision: Precision, device: str) -> None:
    """Refuse combinations that cannot train on ``device``, naming the settings involved."""
    if precision.weights == "float16" and not cfg.training.lora and not _is_cuda(device):
        raise ConfigError(
            "architecture.backbone_dtype = 'float16' with training.lora = false cannot train on the CPU: "
            "float16 weights need a GPU's loss scaling. Use bfloat16 or float32, or enable LoRA."
        )
    if cfg.training.attention_implementation == "flash_attention_2" and not _is_cuda(device):
        raise ConfigError(
            "training.attention_implementation = 'flash_attention_2' needs a CUDA GPU; "
            "use 'auto', 'sdpa' or 'eager' on the CPU."
        )


def _quantization_config(dtype_name: str, compute: str, head: bool = False) -> Any:
    try:
        import bitsandbytes  # noqa: F401
        import torch
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise BackboneError(
            f"architecture.backbone_dtype = {dtype_name!r} needs the bitsandbytes package ({exc}). "
            "Install it, or pick float32/bfloat16."
        ) from exc
    skip = {"llm_int8_skip_modules": [HEAD_MODULE]} if head else {}  # the head trains densely
    if dtype_name == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, **skip)
    return BitsAndBytesConfig(
        **skip,
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, compute),
    )


def _load_config(
    folder: Path, cfg: ExperimentConfig, dropout: float | None, use_cache: bool, head: HeadShape | None = None
) -> Any:
    """The model configuration of ``folder`` with the dropout rates and ``use_cache`` overridden, and the
    output count and problem type of ``head``."""
    from transformers import AutoConfig

    env = cfg.environment
    try:
        config = AutoConfig.from_pretrained(
            str(folder), trust_remote_code=env.trust_remote_code, revision=env.huggingface_branch
        )
    except Exception as exc:
        raise BackboneError(f"Cannot read the model configuration in {folder}: {exc}") from exc
    if head is not None:
        head.apply(config)
    configs = [config]
    text_config = config.get_text_config()
    if text_config is not config:
        configs.append(text_config)
    for item in configs:
        item.use_cache = use_cache
        for name in DROPOUT_FIELDS if dropout is not None else ():
            if isinstance(getattr(item, name, None), (int, float)):
                setattr(item, name, dropout)
    return config


def _from_pretrained(
    folder: Path,
    cfg: ExperimentConfig,
    config: Any,
    device: str,
    dtype_name: str,
    *,
    compute: str = "float32",
    head: bool = False,
) -> Any:
    """Load the causal LM in ``folder`` (with ``head``, the backbone with a sequence-classification head on
    its last token) with ``dtype_name`` weights (4/8-bit layers computing in ``compute``) and place it on
    ``device``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    env = cfg.environment
    kwargs: dict[str, Any] = {
        "config": config,
        "trust_remote_code": env.trust_remote_code,
        "revision": env.huggingface_branch,
    }
    if cfg.training.attention_implementation != "auto":
        kwargs["attn_implementation"] = cfg.training.attention_implementation
    quantized = dtype_name in QUANTIZED
    if quantized:
        kwargs["quantization_config"] = _quantization_config(dtype_name, compute, head)
        kwargs["dtype"] = getattr(torch, compute)
        kwargs["device_map"] = {"": device}
    else:
        kwargs["dtype"] = getattr(torch, dtype_name)
    auto_class = AutoModelForSequenceClassification if head else AutoModelForCausalLM
    try:
        model = auto_class.from_pretrained(str(folder), **kwargs)
    except Exception as exc:
        raise BackboneError(f"Cannot load the model in {folder} as {dtype_name}: {exc}") from exc
    if not quantized:
        try:
            model.to(device)
        except (RuntimeError, ValueError) as exc:
            raise BackboneError(f"Cannot move the model to {device}: {exc}") from exc
    return model


def load_backbone(
    folder: Path,
    cfg: ExperimentConfig,
    device: str,
    precision: Precision | None = None,
    head: HeadShape | None = None,
) -> Any:
    """The causal LM in ``folder`` (with ``head``: the backbone with that head), set up for training as
    ``cfg`` says and placed on ``device``.

    Weights are loaded as ``precision.weights`` (default: the config's choice for the device; int8/int4
    through bitsandbytes, nf4 with double quantisation), dropout fields of the model config are set to
    ``architecture.intermediate_dropout`` and the key/value cache is off.
    """
    _silence_noisy_loggers()
    folder = Path(folder)
    _check_model_folder(folder)
    precision = precision or choose_precision(cfg, device_facts(device))
    _check_supported(cfg, precision, device)
    config = _load_config(
        folder, cfg, dropout=cfg.architecture.intermediate_dropout, use_cache=False, head=head
    )
    return _from_pretrained(
        folder, cfg, config, device, precision.weights, compute=precision.compute, head=head is not None
    )


def _set_checkpointing(model: Any, enabled: bool) -> None:
    """Turn non-reentrant gradient checkpointing on or off (input gradients are enabled with it)."""
    if enabled:
        if not model.supports_gradient_checkpointing:
            raise ConfigError(
                f"architecture.gradient_checkpointing = true, but {type(model).__name__} "
                "does not support it; turn it off."
            )
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif model.is_activation_checkpointing:
        model.activation_checkpointing_disable()


def lora_config(cfg: ExperimentConfig) -> Any:
    """The peft ``LoraConfig`` described by the training section."""
    from peft import LoraConfig, TaskType

    training = cfg.training
    names = [name.strip() for name in training.lora_target_modules.split(",") if name.strip()]
    return LoraConfig(
        r=training.lora_r,
        lora_alpha=training.lora_alpha,
        lora_dropout=training.lora_dropout,
        target_modules=names or "all-linear",
        use_dora=training.use_dora,
        use_rslora=training.use_rslora,
        bias="none",
        # A head model's task type makes peft train and save its head (``score``) in full beside the adapter.
        task_type=TaskType.SEQ_CLS if cfg.problem_type in HEAD_TYPES else TaskType.CAUSAL_LM,
        modules_to_save=list(training.lora_unfreeze_layers) or None,
    )


def _attach_lora(model: Any, cfg: ExperimentConfig, checkpointing: bool) -> Any:
    from peft import get_peft_model, prepare_model_for_kbit_training

    if cfg.architecture.backbone_dtype in QUANTIZED:
        # Checkpointing is enabled below, through the non-deprecated transformers API.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    _set_checkpointing(model, checkpointing)
    try:
        with _no_future_warnings():
            return get_peft_model(model, lora_config(cfg), autocast_adapter_dtype=True)
    except ValueError as exc:
        raise ConfigError(f"Cannot add LoRA adapters (training.lora_target_modules): {exc}") from exc


def prepare_for_training(model: Any, cfg: ExperimentConfig, checkpointing: bool | None = None) -> Any:
    """Add float32 LoRA adapters (``training.lora``) or set up full fine-tuning; returns the model to train.

    Gradient checkpointing as ``checkpointing`` says (the memory plan's choice), else on only when
    ``architecture.gradient_checkpointing`` is "true". Full fine-tuning freezes every parameter whose name
    contains one of ``training.freeze_layers``.
    """
    _silence_noisy_loggers()
    if checkpointing is None:
        checkpointing = cfg.architecture.gradient_checkpointing == "true"
    if cfg.training.lora:
        model = _attach_lora(model, cfg, checkpointing)
    else:
        frozen = [part for part in cfg.training.freeze_layers if part]
        for name, parameter in model.named_parameters():
            parameter.requires_grad = not any(part in name for part in frozen)
        _set_checkpointing(model, checkpointing)
    model.train()
    return model


def _parameter_count(parameter: Any) -> int:
    """Number of weights in ``parameter``; packed 4-bit weights count as their unpacked shape."""
    quant_state = getattr(parameter, "quant_state", None)
    shape = getattr(quant_state, "shape", None)
    if parameter.__class__.__name__ == "Params4bit" and shape is not None:
        return math.prod(int(size) for size in shape)
    return int(parameter.numel())


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts; weights shared between modules count once."""
    trainable = total = 0
    for parameter in model.parameters():
        count = _parameter_count(parameter)
        total += count
        if parameter.requires_grad:
            trainable += count
    return trainable, total


def _is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def save_trained(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save the adapter (LoRA) or the whole model (full fine-tuning) and the tokenizer into ``folder``.

    The folder is written under a temporary name next to it and renamed into place, so an interrupted save
    never leaves a partial folder; an existing folder is replaced.
    """
    _silence_noisy_loggers()
    folder = Path(folder)
    config = model.get_base_model().config if _is_peft(model) else model.config

    def write(target: Path) -> None:
        use_cache = config.use_cache
        config.use_cache = True  # the saved model is for inference
        try:
            model.save_pretrained(str(target))
        finally:
            config.use_cache = use_cache
        tokenizer.save_pretrained(str(target))
        if _is_peft(model) and config.problem_type is not None:
            HeadShape.of_config(config).save(target)

    try:
        write_folder(folder, write)
    except OSError as exc:
        raise BackboneError(f"Cannot save the trained model into {folder}: {exc}") from exc
    return folder


def merge_adapter(model: Any) -> Any:
    """The plain transformers model with the LoRA weights merged in (a model without adapters as is)."""
    _silence_noisy_loggers()
    if not _is_peft(model):
        return model
    if getattr(model.get_base_model(), "hf_quantizer", None) is not None:
        raise BackboneError(
            "LoRA adapters cannot be merged into 4-bit or 8-bit weights: "
            "load the trained model with load_trained(..., merge=True), which reloads the backbone densely."
        )
    return model.merge_and_unload()


def load_trained(
    folder: Path, backbone_folder: Path, cfg: ExperimentConfig, device: str, merge: bool = False
) -> tuple[Any, Any]:
    """(model, tokenizer) of a saved run, in eval mode on ``device``.

    An adapter folder is attached to the backbone in ``backbone_folder`` (with the head of ``head.json`` for
    a head model), reloaded densely for int4/int8 runs, and merged into it with ``merge``; a full-model folder
    is loaded as it is.
    """
    _silence_noisy_loggers()
    folder, backbone_folder = Path(folder), Path(backbone_folder)
    dtype = inference_weights(cfg, device_facts(device))
    if (folder / ADAPTER_CONFIG).is_file():
        from peft import PeftModel

        _check_model_folder(backbone_folder)
        head = HeadShape.load(folder) if cfg.problem_type in HEAD_TYPES else None
        config = _load_config(backbone_folder, cfg, dropout=None, use_cache=True, head=head)
        model = _from_pretrained(backbone_folder, cfg, config, device, dtype, head=head is not None)
        try:
            with _no_future_warnings():
                model = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
        except Exception as exc:
            raise BackboneError(f"Cannot attach the adapter in {folder} to {backbone_folder}: {exc}") from exc
        if merge:
            model = merge_adapter(model)
    elif (folder / "config.json").is_file():
        config = _load_config(folder, cfg, dropout=None, use_cache=True)
        model = _from_pretrained(folder, cfg, config, device, dtype, head=cfg.problem_type in HEAD_TYPES)
    else:
        raise BackboneError(f"{folder} holds neither a LoRA adapter ({ADAPTER_CONFIG}) nor a model.")
    has_tokenizer = any((folder / name).is_file() for name in _TOKENIZER_FILES)
    tokenizer = load_tokenizer(
        folder if has_tokenizer else backbone_folder, cfg.environment.trust_remote_code
    )
    model.eval()
    return model, tokenizer
