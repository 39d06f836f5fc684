"""GRPO (``text_grpo_modeling``): TRL's GRPOTrainer with the reward functions the config picks and weights.

Each conversation gives a prompt (system, earlier turns, the question, rendered with the assistant cue) and
its reference answer (the answer column). For every prompt ``num_generations`` completions are sampled and
scored by the weighted reward functions (``core.training.rewards``); each completion learns from its reward
relative to its group. ``training.loss_function`` picks TRL's loss aggregation (DAPO by default), ``beta``
the KL penalty toward the reference (LoRA: the backbone with the adapter off), ``importance_sampling_level``
``sequence`` gives GSPO. Validation samples completions for the validation prompts, reports the mean reward,
and writes them with their rewards to the predictions table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.errors import StudioError
from studio_desktop.core.training.recipe import RunSetup, TrainerRun
from studio_desktop.core.training.rewards import (
    RewardSettings,
    Score,
    check_custom_reward,
    code_line,
)

LOSS_TYPES = {"DAPOLoss": "dapo", "GRPOLoss": "grpo", "DrGRPOLoss": "dr_grpo", "BNPOLoss": "bnpo"}
CHECKED_ROWS = 3  # training rows the user's reward function is tried on before the run starts


@dataclass
class CompletionRecord:
    """The completions scored while ``recording`` (validation), with each function's reward."""

    recording: bool = False
    rows: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, questions: Sequence[str], completions: Sequence[str], references: Sequence[str],
            rewards: Sequence[float]) -> None:  # fmt: skip
        """Keep the rewards of ``name`` for a batch of completions (a completion repeated in a batch once)."""
        if not self.recording:
            return
        for index, (question, completion, reference, reward) in enumerate(
            zip(questions, completions, references, rewards, strict=True)
        ):
            row = self.rows.setdefault(
                (question, completion, index),
                {"prompt": question, "reference": reference, "completion": completion},
            )
            row[name] = reward

    def table(self, weights: dict[str, float]) -> Any:
        """The recorded completions with their rewards and weighted total, the best first."""
        import pandas as pd

        frame = pd.DataFrame(list(self.rows.values()))
        if frame.empty:
            return frame
        frame["reward"] = sum(frame[name] * weight for name, weight in weights.items())
        return frame.sort_values("reward", ascending=False, kind="stable").reset_index(drop=True)


def trl_reward(name: str, score: Score, record: CompletionRecord) -> Any:
    """``score`` as a TRL reward function named ``name`` (TRL charts ``rewards/<name>/mean``)."""

    def reward(prompts: list[str], completions: list[str], question: list[str], reference: list[str],
               **_: Any) -> list[float]:  # fmt: skip
        values = []
        for completion, prompt, answer in zip(completions, question, reference, strict=True):
            try:
                value = float(score(completion, prompt, answer))
            except Exception as exc:
                raise StudioError(
                    f"the reward function {name} failed on a sampled completion: {type(exc).__name__}: {exc}"
                    + (f" (training.reward_custom_code {code_line(exc)})" if name == "custom" else "")
                ) from exc
            values.append(value if math.isfinite(value) else 0.0)
        record.add(name, question, completions, reference, values)
        return values

    reward.__name__ = name
    return reward


@dataclass(frozen=True)
class GrpoData:
    """Prompts with their questions and reference answers (``datasets.Dataset``), and the reward functions."""

    train: Any
    validation: Any
    rewards: list[tuple[str, float, Score]]


def keep_prompt_end(tokenizer: Any, prompt: str, max_length: int) -> str:
    """``prompt`` as it is, or its last ``max_length`` tokens when it is longer (the question and the cue
    are at its end)."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_length:
        return prompt
    return tokenizer.decode(ids[-max_length:], skip_special_tokens=False)


class GrpoRecipe:
    """Builds the prompt sets and TRL's GRPO trainer with the configured rewards."""

    def build_datasets(
        self, setup: RunSetup, tokenizer: Any, train: list[Conversation], validation: list[Conversation]
    ) -> GrpoData:
        from datasets import Dataset

        from studio_desktop.core.data.prepare import generation_prompts, template_settings

        rewards = RewardSettings.of(setup.cfg.training).scores()
        for name, _weight, score in rewards:
            if name == "custom":
                check_custom_reward(
                    score, [(c.prompt_messages[-1].content, c.answer) for c in train[:CHECKED_ROWS]]
                )
        settings = template_settings(setup.cfg.dataset)
        max_length = setup.cfg.tokenizer.max_length

        def prompts(conversations: list[Conversation]) -> Any:
            rendered = generation_prompts(tokenizer, conversations, settings)
            return Dataset.from_dict(
                {
                    "prompt": [keep_prompt_end(tokenizer, prompt, max_length) for prompt in rendered],
                    "question": [c.prompt_messages[-1].content for c in conversations],
                    "reference": [c.answer for c in conversations],
                }
            )

        return GrpoData(prompts(train), prompts(validation) if validation else None, rewards)

    def model_head(self, data: GrpoData) -> None:
        return None  # the causal LM as it is

    def build_trainer(self, setup: RunSetup, model: Any, tokenizer: Any, data: GrpoData) -> TrainerRun:
        from transformers import PrinterCallback
        from trl import GRPOConfig, GRPOTrainer

        from studio_desktop.core.evaluation import save_predictions
        from studio_desktop.core.training.callback import EventCallback, started_fields
        from studio_desktop.core.training.trainer import StudioMixin, run_arguments

        cfg, training = setup.cfg, setup.cfg.training
        has_eval = data.validation is not None
        groups = training.num_generations
        # The Trainer counts completions: each prompt is repeated num_generations times.
        args, plan = run_arguments(
            setup,
            len(data.train) * groups,
            has_eval=has_eval,
            padded=True,
            arguments_class=GRPOConfig,
            num_generations=groups,
            max_completion_length=training.max_completion_length,
            temperature=training.sampling_temperature,
            beta=training.beta,
            importance_sampling_level=training.importance_sampling_level,
            loss_type=LOSS_TYPES[training.loss_function],
            reward_weights=[weight for _name, weight, _score in data.rewards],
            gradient_checkpointing=False,  # prepare_for_training already set it up
            log_completions=False,
        )
        record = CompletionRecord()
        weights = {name: weight for name, weight, _score in data.rewards}

        class StudioGRPOTrainer(StudioMixin, GRPOTrainer):
            def evaluate(self, *args: Any, **kwargs: Any) -> dict:
                """Validation: the mean reward of completions sampled for the validation prompts, which
                are written with their rewards to the predictions table."""
                record.recording, record.rows = True, {}
                try:
                    metrics = super().evaluate(*args, **kwargs)
                finally:
                    record.recording = False
                save_predictions(record.table(weights), setup.paths.predictions)
                return metrics

        callback = EventCallback.for_run(
            setup, started_fields(setup, model, data.train, data.validation or []), perplexity=False
        )
        trainer = StudioGRPOTrainer(
            model=model,
            reward_funcs=[trl_reward(name, score, record) for name, _weight, score in data.rewards],
            args=args,
            train_dataset=data.train,
            eval_dataset=data.validation,
            processing_class=tokenizer,
            callbacks=[callback],
        )
        trainer.attach_studio(studio_cfg=cfg, plan=plan, emit=setup.sink.emit)
        trainer.remove_callback(PrinterCallback)
        return TrainerRun(trainer, callback)


RECIPE = GrpoRecipe()
