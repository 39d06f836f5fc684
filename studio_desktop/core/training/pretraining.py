"""Continued pretraining on raw text (``text_causal_pretraining_modeling``).

The documents are tokenised as they are (no chat template, no prompt masking), an end-of-text token after
each, and their token stream is cut into blocks of ``tokenizer.max_length`` tokens (the last one may be
shorter): every token of a block is trained. Validation blocks are packed the same way and report the loss
and its perplexity; the predictions table lists each validation block (its start, tokens, loss and
perplexity), the hardest first. LoRA and full fine-tuning train alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from studio_desktop.core.data.documents import Document
from studio_desktop.core.errors import BackboneError
from studio_desktop.core.training.recipe import RunSetup, TrainerRun

TOKENIZE_BATCH = 256  # documents tokenised per call
START_TOKENS = 48  # of each validation block, shown in the predictions table


@dataclass(frozen=True)
class PackedText:
    """Blocks of token ids, and the counts they came from."""

    blocks: list[list[int]]
    documents: int
    tokens: int


def pack_documents(tokenizer: Any, documents: Sequence[Document], block_size: int) -> PackedText:
    """The documents' tokens, each document followed by the end-of-text token, in blocks of ``block_size``
    (a last block of a single token is dropped: it has no next token to learn)."""
    end = tokenizer.eos_token_id
    if end is None:
        raise BackboneError("the tokenizer has no end-of-text token to put between documents.")
    stream: list[int] = []
    for start in range(0, len(documents), TOKENIZE_BATCH):
        texts = [document.text for document in documents[start : start + TOKENIZE_BATCH]]
        for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
            stream.append(end)
    blocks = [stream[i : i + block_size] for i in range(0, len(stream), block_size)]
    if blocks and len(blocks[-1]) < 2:
        blocks.pop()
    return PackedText(blocks, len(documents), len(stream) - len(documents))


class BlockDataset:
    """Packed blocks as the Trainer reads them: every token is its own label."""

    def __init__(self, blocks: Sequence[list[int]]) -> None:
        self.blocks = list(blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return {"input_ids": self.blocks[index]}


class BlockCollator:
    """Pads a batch of blocks on the right; padding is masked out of attention and loss."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, features: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        from studio_desktop.core.training.packing import pad_on_the_right

        ids, mask = pad_on_the_right([feature["input_ids"] for feature in features], self.pad_token_id)
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def token_losses(logits: Any, labels: Any) -> Any:
    """Each position's next-token loss (0 where there is none to learn), so that evaluation keeps a number
    per token instead of the vocabulary's logits."""
    import torch.nn.functional as F  # noqa: N812

    if isinstance(logits, tuple):
        logits = logits[0]
    targets = labels[:, 1:]
    losses = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets, ignore_index=-100, reduction="none"
    )
    return losses.masked_fill(targets == -100, 0.0)


def blocks_table(tokenizer: Any, blocks: Sequence[list[int]], losses: Any, labels: Any) -> Any:
    """A row per validation block: its number, its start, its trained tokens, loss and perplexity, the
    hardest first."""
    import math

    import numpy as np
    import pandas as pd

    mask = np.asarray(labels)[:, 1:] != -100
    totals = np.where(mask, np.asarray(losses, dtype=np.float64), 0.0).sum(axis=1)
    counts = mask.sum(axis=1)
    means = totals / np.maximum(counts, 1)
    frame = pd.DataFrame(
        {
            "block": np.arange(1, len(blocks) + 1),
            "start": [tokenizer.decode(block[:START_TOKENS]) for block in blocks],
            "tokens": counts,
            "loss": means,
            "perplexity": [math.exp(min(value, 50.0)) for value in means],
        }
    )
    return frame.sort_values("loss", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class PretrainingData:
    """The packed training and validation blocks."""

    train: BlockDataset
    validation: BlockDataset | None


class PretrainingRecipe:
    """Packs raw text into blocks and trains them with the app's Trainer."""

    def build_datasets(
        self, setup: RunSetup, tokenizer: Any, train: list[Document], validation: list[Document]
    ) -> PretrainingData:
        block = setup.cfg.tokenizer.max_length
        packed = pack_documents(tokenizer, train, block)
        setup.log(
            f"{packed.tokens:,} training tokens in {packed.documents:,} documents, packed into "
            f"{len(packed.blocks):,} blocks of up to {block} tokens"
        )
        held = pack_documents(tokenizer, validation, block) if validation else None
        if held is not None:
            setup.log(f"{held.tokens:,} validation tokens in {len(held.blocks):,} blocks")
        return PretrainingData(BlockDataset(packed.blocks), BlockDataset(held.blocks) if held else None)

    def model_head(self, data: PretrainingData) -> None:
        return None  # the causal LM as it is

    def build_trainer(self, setup: RunSetup, model: Any, tokenizer: Any, data: PretrainingData) -> TrainerRun:
        from transformers import PrinterCallback

        from studio_desktop.core.evaluation import save_predictions
        from studio_desktop.core.training.callback import EventCallback, started_fields
        from studio_desktop.core.training.trainer import StudioTrainer, run_arguments

        has_eval = data.validation is not None and len(data.validation) > 0
        args, plan = run_arguments(setup, len(data.train), has_eval=has_eval, padded=True)
        held = data.validation.blocks if data.validation is not None else []

        def compute_metrics(prediction: Any) -> dict[str, float]:
            table = blocks_table(tokenizer, held, prediction.predictions, prediction.label_ids)
            save_predictions(table, setup.paths.predictions)
            return {}  # the loss and its perplexity are the Trainer's

        callback = EventCallback.for_run(
            setup, started_fields(setup, model, data.train, data.validation or [])
        )
        trainer = StudioTrainer(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.validation if has_eval else None,
            data_collator=BlockCollator(tokenizer.pad_token_id),
            compute_metrics=compute_metrics if has_eval else None,
            preprocess_logits_for_metrics=token_losses if has_eval else None,
            callbacks=[callback],
            studio_cfg=setup.cfg,
            plan=plan,
            generation=None,
            on_generation=None,
            emit=setup.sink.emit,
        )
        trainer.remove_callback(PrinterCallback)
        return TrainerRun(trainer, callback)


RECIPE = PretrainingRecipe()
