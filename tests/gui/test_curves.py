"""Curve panel: axes and the cap on drawn points."""

from __future__ import annotations

from studio_desktop.core.events import Metric
from studio_desktop.jobs.run_state import RunState


def test_curves_follow_the_axis_and_are_capped(qtbot) -> None:
    from studio_desktop.gui.widgets.curves import CurvePanel

    state = RunState()
    for step in range(1, 1001):
        state.apply(
            Metric(step=step, epoch=step / 100, tokens=step * 7, values={"train/loss": 1000.0 / step})
        )
    panel = CurvePanel()
    qtbot.addWidget(panel)
    panel.show_state(state)
    x, y = panel.curves["train/loss"].getData()
    assert len(x) == 1000 and x[0] == 1 and y[-1] == 1.0
    panel.x_axis.setCurrentText("Tokens")
    assert panel.curves["train/loss"].getData()[0][-1] == 7000
    panel.set_max_points(100)
    x, y = panel.curves["train/loss"].getData()
    assert len(x) == 100 and x[0] == 7 and x[-1] == 7000 and y[-1] == 1.0
    panel.show_state(None)
    x, _ = panel.curves["train/loss"].getData()
    assert x is None or len(x) == 0


def test_preference_rewards_panel_appears_only_for_runs_that_report_rewards(qtbot) -> None:
    from studio_desktop.gui.widgets.curves import CurvePanel

    panel = CurvePanel()
    qtbot.addWidget(panel)
    panel.show()
    rewards = panel.plot_of["val/rewards/margins"]
    sft = RunState()
    sft.apply(Metric(step=1, epoch=0.1, tokens=10, values={"train/loss": 2.0}))
    panel.show_state(sft)
    assert not rewards.isVisible()
    dpo = RunState()
    for step in (1, 2):
        values = {"train/loss": 0.6, "val/rewards/margins": 0.1 * step, "val/rewards/accuracies": 1.0}
        dpo.apply(Metric(step=step, epoch=step / 10, tokens=10 * step, values=values))
    panel.show_state(dpo)
    assert rewards.isVisible()
    assert list(panel.curves["val/rewards/margins"].getData()[1]) == [0.1, 0.2]
    panel.show_state(sft)
    assert not rewards.isVisible()


def test_each_problem_type_shows_its_own_validation_metrics(qtbot) -> None:
    from studio_desktop.gui.widgets.curves import CurvePanel

    panel = CurvePanel()
    qtbot.addWidget(panel)
    panel.show()
    generation, classification = panel.plot_of["val/perplexity"], panel.plot_of["val/auc"]
    regression, rewards = panel.plot_of["val/mse"], panel.plot_of["val/reward"]
    runs = {
        "sft": {"train/loss": 2.0, "val/loss": 2.1, "val/perplexity": 8.2},
        "classification": {"train/loss": 0.6, "val/loss": 0.5, "val/auc": 0.9, "val/accuracy": 0.8},
        "regression": {"train/loss": 1.5, "val/loss": 1.4, "val/mse": 1.4, "val/mae": 1.0},
        "grpo": {"train/loss": 0.0, "train/reward": 0.5, "train/rewards/custom/mean": 0.25, "train/kl": 0.1},
    }
    shown = {}
    for name, values in runs.items():
        state = RunState()
        state.apply(Metric(step=1, epoch=0.5, tokens=10, values=values))
        panel.show_state(state)
        visible = (generation, classification, regression, rewards)
        shown[name] = tuple(plot.isVisible() for plot in visible)
    assert shown == {
        "sft": (True, False, False, False),
        "classification": (False, True, False, False),
        "regression": (False, False, True, False),
        "grpo": (False, False, False, True),
    }
    assert panel.plot_of["train/rewards/custom/mean"].isVisible() and panel.plot_of["train/kl"].isVisible()
    assert list(panel.curves["train/reward"].getData()[1]) == [0.5]
