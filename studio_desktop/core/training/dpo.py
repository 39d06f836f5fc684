"""Preference optimisation (``text_dpo_modeling``): DPO and its relatives, trained by TRL's trainers.

Each conversation gives one preference pair: the rendered prompt (system, earlier turns and the final
question, with the assistant cue), the chosen final answer and the rejected one. ``training.loss_function``
picks the method:

- DPOLoss, DPOHingeLoss, DPOIPOLoss: TRL's DPOTrainer with loss type sigmoid, hinge or ipo.
- KTOPairLoss: DPOTrainer with TRL's ``bco_pair``, its nearest paired loss (each side is classified against
  a running reward baseline, as KTO-pair does against a KL estimate).
- CPOLoss and SimPOLoss (``simpo_gamma``): TRL's CPOTrainer; ORPOLoss: TRL's ORPOTrainer. These need no
  reference model.
- KTOLoss: TRL's KTOTrainer on unpaired data: rows rated by a desirability column as they are, and each
  preference pair as one good and one bad answer, each after its own prompt (a rejected prompt column gives
  the rejected answer's). The paired losses compare two answers to one prompt and refuse such rows.

With LoRA, the DPO reference model is the backbone with the adapter switched off (no second copy in
memory); a full fine-tune gets TRL's frozen copy. ``training.beta`` is the preference strength (ORPO's
lambda). Validation reports the preference loss, the reward metrics, and generated answers scored against the
chosen answers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.errors import DataError
from studio_desktop.core.training.generation import score_generations
from studio_desktop.core.training.recipe import RunSetup, TrainerRun


@dataclass(frozen=True)
class PreferenceMethod:
    """Which TRL trainer runs a loss, and the fields of its config that select the loss."""

    module: str
    trainer: str
    config: str
    options: tuple[tuple[str, Any], ...] = ()
    unpaired: bool = False  # trains on single rated answers (prompt, completion, label)


_DPO = ("trl", "DPOTrainer", "DPOConfig")
_CPO = ("trl.experimental.cpo", "CPOTrainer", "CPOConfig")
METHODS: dict[str, PreferenceMethod] = {
    "DPOLoss": PreferenceMethod(*_DPO, (("loss_type", ["sigmoid"]),)),
    "DPOHingeLoss": PreferenceMethod(*_DPO, (("loss_type", ["hinge"]),)),
    "DPOIPOLoss": PreferenceMethod(*_DPO, (("loss_type", ["ipo"]),)),
    "KTOPairLoss": PreferenceMethod(*_DPO, (("loss_type", ["bco_pair"]),)),
    "CPOLoss": PreferenceMethod(*_CPO, (("loss_type", "sigmoid"),)),
    "SimPOLoss": PreferenceMethod(*_CPO, (("loss_type", "simpo"), ("cpo_alpha", 0.0))),
    "ORPOLoss": PreferenceMethod("trl.experimental.orpo", "ORPOTrainer", "ORPOConfig"),
    "KTOLoss": PreferenceMethod("trl", "KTOTrainer", "KTOConfig", unpaired=True),
}


@dataclass(frozen=True)
class PreferenceData:
    """Preference pairs for TRL (``datasets.Dataset`` of prompt/chosen/rejected) and validation prompts."""

    train: Any
    validation: Any
    prompts: list[str]
    references: list[str]


def check_pairs(conversations: list[Conversation], what: str, unpaired: bool) -> None:
    """Every conversation must carry a rejected answer that differs from the chosen one, or, for an
    unpaired method, be a pair or a rated answer; only an unpaired method takes a rejected answer to
    another prompt."""
    for conversation in conversations:
        if conversation.rejected_prompt is not None and not unpaired:
            raise DataError(
                f"{what} row {conversation.source_row}: the rejected answer has its own prompt (the rejected "
                "prompt column); the paired losses compare two answers to one prompt. Train with KTOLoss, "
                "which rates each answer after its own prompt, or import without a rejected prompt column."
            )
        rejected = conversation.rejected_answer
        if unpaired and conversation.desirable is not None:
            continue
        if rejected is None or not rejected.strip():
            rated = " or a desirability column (KTOLoss)" if unpaired else ""
            hint = " Rated answers (a desirability column) train with KTOLoss." if not unpaired else ""
            raise DataError(
                f"{what} row {conversation.source_row}: no rejected answer; preference training needs one "
                f"per row: import the dataset with a rejected answer column{rated}.{hint}"
            )
        if rejected.strip() == conversation.answer.strip():
            raise DataError(
                f"{what} row {conversation.source_row}: the rejected answer equals the chosen one; "
                "fix or remove the row."
            )


class PreferenceRecipe:
    """Builds preference pairs and the TRL trainer of the chosen loss."""

    def build_datasets(
        self, setup: RunSetup, tokenizer: Any, train: list[Conversation], validation: list[Conversation]
    ) -> PreferenceData:
        from datasets import Dataset

        from studio_desktop.core.data.prepare import generation_prompts, render_prompt, template_settings

        unpaired = METHODS[setup.cfg.training.loss_function].unpaired
        check_pairs(train, "training data", unpaired)
        check_pairs(validation, "validation data", unpaired)
        settings = template_settings(setup.cfg.dataset)
        end = tokenizer.eos_token or ""

        def pairs(conversations: list[Conversation]) -> Any:
            prompts = generation_prompts(tokenizer, conversations, settings)
            if unpaired:
                rejected_prompts = [
                    render_prompt(tokenizer, c.system, c.rejected_messages, settings) for c in conversations
                ]
                return Dataset.from_dict(rated_answers(conversations, prompts, rejected_prompts, end))
            return Dataset.from_dict(
                {
                    "prompt": prompts,
                    "chosen": [c.answer + end for c in conversations],
                    "rejected": [(c.rejected_answer or "") + end for c in conversations],
                }
            )

        return PreferenceData(
            train=pairs(train),
            validation=pairs(validation) if validation else None,
            prompts=generation_prompts(tokenizer, validation, settings),
            references=[c.answer for c in validation],
        )

    def model_head(self, data: PreferenceData) -> None:
        return None  # the causal LM as it is

    def build_trainer(self, setup: RunSetup, model: Any, tokenizer: Any, data: PreferenceData) -> TrainerRun:
        from transformers import PrinterCallback

        from studio_desktop.core.training.callback import EventCallback, started_fields
        from studio_desktop.core.training.trainer import GenerationSet, StudioMixin, run_arguments

        cfg = setup.cfg
        method = METHODS[cfg.training.loss_function]
        module = importlib.import_module(method.module)
        trainer_class = type(f"Studio{method.trainer}", (StudioMixin, getattr(module, method.trainer)), {})
        has_eval = data.validation is not None
        args, plan = run_arguments(
            setup,
            len(data.train),
            has_eval=has_eval,
            padded=True,
            arguments_class=getattr(module, method.config),
            beta=cfg.training.beta,
            max_length=cfg.tokenizer.max_length,
            gradient_checkpointing=False,  # TRL's default is on; prepare_for_training already set it up
            **_loss_options(method, cfg.training.simpo_gamma),
        )
        validation = data.validation or []
        started = started_fields(setup, model, data.train, validation)
        callback = EventCallback.for_run(setup, started, perplexity=False)  # the loss is a preference loss
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.validation,
            processing_class=tokenizer,
            callbacks=[callback],
        )
        generation = GenerationSet(data.prompts, data.references) if has_eval and data.prompts else None
        trainer.attach_studio(
            studio_cfg=cfg,
            plan=plan,
            emit=setup.sink.emit,
            generation=generation,
            on_generation=lambda prompts: score_generations(
                setup, model, tokenizer, prompts, data.references
            ),
        )
        trainer.remove_callback(PrinterCallback)
        return TrainerRun(trainer, callback)


def rated_answers(
    conversations: list[Conversation], prompts: list[str], rejected_prompts: list[str], end: str
) -> dict[str, list]:
    """KTO's unpaired rows: a rated answer as it is, a pair as its chosen (good) answer after ``prompts`` and
    its rejected (bad) one after ``rejected_prompts``."""
    rows: dict[str, list] = {"prompt": [], "completion": [], "label": []}
    for conversation, prompt, rejected_prompt in zip(conversations, prompts, rejected_prompts, strict=True):
        if conversation.desirable is not None:
            answers = [(prompt, conversation.answer, conversation.desirable)]
        else:
            answers = [
                (prompt, conversation.answer, True),
                (rejected_prompt, conversation.rejected_answer or "", False),
            ]
        for prompt_text, answer, good in answers:
            rows["prompt"].append(prompt_text)
            rows["completion"].append(answer + end)
            rows["label"].append(good)
    return rows


def _loss_options(method: PreferenceMethod, simpo_gamma: float) -> dict[str, Any]:
    options = dict(method.options)
    if options.get("loss_type") == "simpo":
        options["simpo_gamma"] = simpo_gamma
    return options


RECIPE = PreferenceRecipe()
