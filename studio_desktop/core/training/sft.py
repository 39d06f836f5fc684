"""Supervised fine-tuning of a causal LM (``text_causal_language_modeling``): the first recipe.

Conversations are tokenised with prompt labels masked, batched padding-free where the model keeps packed
samples apart, trained by ``StudioTrainer``, and validated by loss and by generated answers scored against
the references (BLEU, ROUGE-L), which are written to the predictions table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.training.generation import score_generations
from studio_desktop.core.training.recipe import RunSetup, TrainerRun


@dataclass(frozen=True)
class SftData:
    """Tokenised training and validation sets and the validation prompts for generation."""

    train: Any
    validation: Any
    generation: Any


class SftRecipe:
    """Builds the SFT datasets and trainer."""

    def build_datasets(
        self, setup: RunSetup, tokenizer: Any, train: list[Conversation], validation: list[Conversation]
    ) -> SftData:
        from studio_desktop.core.data import augment
        from studio_desktop.core.data.augment import augmentation_for
        from studio_desktop.core.data.prepare import (
            TokenizedDataset,
            encode_conversations,
            generation_prompts,
            template_settings,
        )
        from studio_desktop.core.training.preview import write_batch_preview
        from studio_desktop.core.training.trainer import GenerationSet

        cfg = setup.cfg
        settings = template_settings(cfg.dataset)
        max_length = cfg.tokenizer.max_length
        train_samples = encode_conversations(tokenizer, train, settings, max_length)
        write_batch_preview(setup.paths.folder, tokenizer, train_samples, cfg.training.batch_size)
        generation = GenerationSet(
            prompts=generation_prompts(tokenizer, validation, settings),
            references=[c.answer for c in validation],
        )
        augmentation = augmentation_for(cfg.augmentation, tokenizer)
        if augmentation.active:
            train_set = augment.AugmentedDataset(
                train_samples,
                train,
                lambda c: encode_conversations(tokenizer, [c], settings, max_length)[0],
                augmentation,
                setup.seed,
            )
        else:
            train_set = TokenizedDataset(train_samples)
        return SftData(
            train=train_set,
            validation=TokenizedDataset(encode_conversations(tokenizer, validation, settings, max_length)),
            generation=generation,
        )

    def model_head(self, data: SftData) -> None:
        return None  # the causal LM as it is

    def build_trainer(self, setup: RunSetup, model: Any, tokenizer: Any, data: SftData) -> TrainerRun:
        from transformers import PrinterCallback

        from studio_desktop.core.data.prepare import DataCollator
        from studio_desktop.core.training.callback import EventCallback, started_fields
        from studio_desktop.core.training.trainer import StudioTrainer, run_arguments

        cfg = setup.cfg
        has_eval = len(data.validation) > 0
        collator, loss = _batching(setup, model, tokenizer)
        padded = isinstance(collator, DataCollator)
        args, plan = run_arguments(setup, len(data.train), has_eval=has_eval, padded=padded)
        callback = EventCallback.for_run(setup, started_fields(setup, model, data.train, data.validation))
        trainer = StudioTrainer(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.validation if has_eval else None,
            data_collator=collator,
            compute_loss_func=loss,
            callbacks=[callback],
            studio_cfg=cfg,
            plan=plan,
            generation=data.generation if has_eval else None,
            on_generation=lambda prompts: score_generations(
                setup, model, tokenizer, prompts, data.generation.references
            ),
            emit=setup.sink.emit,
        )
        trainer.remove_callback(PrinterCallback)
        return TrainerRun(trainer, callback)


def _batching(setup: RunSetup, model: Any, tokenizer: Any) -> tuple[Any, Any]:
    """The collator and loss function: padding-free with trained-token logits when the model allows."""
    from studio_desktop.core.data.prepare import BatchShape, DataCollator
    from studio_desktop.core.training.packing import (
        PaddingFreeCollator,
        accepts_logits_to_keep,
        keeps_samples_apart,
        trained_token_loss,
    )
    from studio_desktop.core.training.trainer import SAMPLE_AVERAGED

    cfg = setup.cfg
    sample_averaged = cfg.training.loss_function == SAMPLE_AVERAGED
    shape = BatchShape(cfg.tokenizer.padding_quantile, sample_averaged)
    if not cfg.training.padding_free:
        return DataCollator.for_tokenizer(tokenizer, shape=shape), None
    if not keeps_samples_apart(model):
        setup.log(
            f"{cfg.llm_backbone} lets samples of a padding-free row attend to each other; "
            "training uses padded batches",
            "warning",
        )
        return DataCollator.for_tokenizer(tokenizer, shape=shape), None
    # Sample-averaged batches carry loss weights, which StudioTrainer.compute_loss applies itself.
    loss = None if sample_averaged else trained_token_loss
    if accepts_logits_to_keep(model):
        return PaddingFreeCollator(keep_trained_logits_only=True, shape=shape), loss
    return PaddingFreeCollator(keep_trained_logits_only=False, shape=shape), None


RECIPE = SftRecipe()
