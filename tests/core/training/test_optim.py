"""Optimizer groups and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch

from studio_desktop.core.config import default_config
from studio_desktop.core.errors import ConfigError
from studio_desktop.core.training.optim import create_optimizer, create_scheduler, schedule_factor


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.proj = torch.nn.Linear(4, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 2)


def test_groups_no_decay_for_bias_and_norm_and_differential_rate() -> None:
    cfg = default_config().replace(
        {"training.weight_decay": 0.1, "training.differential_learning_rate_layers": ["head"]}
    )
    optimizer = create_optimizer(Tiny(), cfg)
    assert isinstance(optimizer, torch.optim.AdamW)
    by_setting = {(g["lr"], g["weight_decay"]): len(g["params"]) for g in optimizer.param_groups}
    assert by_setting == {
        (1e-4, 0.1): 2,  # embed.weight, proj.weight
        (1e-4, 0.0): 3,  # proj.bias, norm.weight, norm.bias
        (1e-5, 0.1): 1,  # head.weight
        (1e-5, 0.0): 1,  # head.bias
    }


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("SGD", torch.optim.SGD),
        ("Adam", torch.optim.Adam),
        ("RMSprop", torch.optim.RMSprop),
        ("Adadelta", torch.optim.Adadelta),
    ],
)
def test_optimizer_choice(name: str, cls: type) -> None:
    assert isinstance(create_optimizer(Tiny(), default_config().replace({"training.optimizer": name})), cls)


def test_nothing_trainable_is_a_config_error() -> None:
    model = Tiny().requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        create_optimizer(model, default_config())


def test_schedules() -> None:
    cosine = default_config()
    assert schedule_factor(0, cosine, 100, 0) == pytest.approx(1.0)
    assert schedule_factor(50, cosine, 100, 0) == pytest.approx(0.5)
    assert schedule_factor(100, cosine, 100, 0) == pytest.approx(0.0)
    floored = cosine.replace({"training.min_learning_rate_ratio": 0.1})
    assert schedule_factor(100, floored, 100, 0) == pytest.approx(0.1)
    linear = cosine.replace({"training.schedule": "Linear"})
    assert schedule_factor(25, linear, 100, 0) == pytest.approx(0.75)
    constant = cosine.replace({"training.schedule": "Constant"})
    assert schedule_factor(99, constant, 100, 10) == 1.0
    assert schedule_factor(0, constant, 100, 9) == pytest.approx(0.1)
    assert schedule_factor(4, constant, 100, 9) == pytest.approx(0.5)


def test_scheduler_warms_up_for_the_configured_epochs() -> None:
    cfg = default_config().replace({"training.warmup_epochs": 0.5})
    optimizer = create_optimizer(Tiny(), cfg)
    scheduler = create_scheduler(optimizer, cfg, total_steps=20, steps_per_epoch=10)
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:5] == pytest.approx([1e-4 * (s + 1) / 6 for s in range(5)])
    assert rates[5] == pytest.approx(1e-4)
    assert rates[-1] == pytest.approx(1e-4 * 0.5 * (1 + math.cos(math.pi * 14 / 15)))
