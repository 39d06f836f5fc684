"""Optimizer and learning-rate schedule from the config, with H2O LLM Studio's semantics.

Bias and normalisation weights get no weight decay; layers named in ``differential_learning_rate_layers``
train with their own rate; the schedule warms up linearly and never falls below ``min_learning_rate_ratio``.
"""

from __future__ import annotations

import math
from typing import Any

from studio_desktop.core.config import ExperimentConfig
from studio_desktop.core.errors import ConfigError

NO_DECAY_PARTS = ("bias", "norm")


def parameter_groups(model: Any, cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """Trainable parameters grouped by (differential rate?, weight decay?)."""
    training = cfg.training
    groups: dict[tuple[bool, bool], list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        differential = any(part in name for part in training.differential_learning_rate_layers)
        decay = param.ndim > 1 and not any(part in name.lower() for part in NO_DECAY_PARTS)
        groups.setdefault((differential, decay), []).append(param)
    return [
        {
            "params": params,
            "lr": training.differential_learning_rate if differential else training.learning_rate,
            "weight_decay": training.weight_decay if decay else 0.0,
        }
        for (differential, decay), params in groups.items()
    ]


def create_optimizer(model: Any, cfg: ExperimentConfig) -> Any:
    """The optimizer named by ``training.optimizer``."""
    import torch

    groups = parameter_groups(model, cfg)
    if not groups:
        raise ConfigError("no trainable parameters: enable training.lora or unfreeze some layers.")
    name, lr = cfg.training.optimizer, cfg.training.learning_rate
    if name in {"AdamW", "Adam"}:
        adam = torch.optim.AdamW if name == "AdamW" else torch.optim.Adam
        return adam(groups, lr=lr, fused=can_fuse(groups))
    if name == "SGD":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    if name == "RMSprop":
        return torch.optim.RMSprop(groups, lr=lr, momentum=0.9, alpha=0.9)
    if name == "Adadelta":
        return torch.optim.Adadelta(groups, lr=lr)
    import bitsandbytes as bnb

    return bnb.optim.AdamW8bit(groups, lr=lr)


def can_fuse(groups: list[dict[str, Any]]) -> bool:
    """Whether torch's fused Adam kernels take these parameters (floating point, on a CPU or CUDA device)."""
    params = [param for group in groups for param in group["params"]]
    return all(param.is_floating_point() and param.device.type in {"cpu", "cuda"} for param in params)


def schedule_factor(step: int, cfg: ExperimentConfig, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base learning rate at ``step``."""
    floor = cfg.training.min_learning_rate_ratio
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if cfg.training.schedule == "Constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if cfg.training.schedule == "Linear":
        decayed = 1.0 - progress
    else:
        decayed = 0.5 * (1.0 + math.cos(math.pi * progress))
    return floor + (1.0 - floor) * decayed


def create_scheduler(optimizer: Any, cfg: ExperimentConfig, total_steps: int, steps_per_epoch: int) -> Any:
    """A LambdaLR following ``schedule_factor``; warm-up length from ``training.warmup_epochs``."""
    from torch.optim.lr_scheduler import LambdaLR

    warmup_steps = min(total_steps, round(cfg.training.warmup_epochs * steps_per_epoch))
    return LambdaLR(optimizer, lambda step: schedule_factor(step, cfg, total_steps, warmup_steps))
