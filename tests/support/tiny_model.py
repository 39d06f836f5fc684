"""A tiny random-weight Llama with its own ChatML BPE tokenizer, built in well under a second."""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>", "<pad>", "<unk>"]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TRAINING_TEXT = """
Studio Desktop fine-tunes language models on your own computer. Import a dataset, create an experiment,
start training, watch the loss fall, chat with the result and export it. LoRA rank sets the capacity of
the adapter. The learning rate controls the step size. Questions and answers about data, models, training,
evaluation, validation, export, chat, settings, tokens, GPUs, memory, batch size and epochs.
The quick brown fox jumps over the lazy dog. 0123456789 user assistant system
"""


def build_tiny_tokenizer(vocab_size: int = 512):
    """Train a byte-level BPE on a few KB of text and wrap it as a ChatML fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([TRAINING_TEXT] * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, hidden-64 Llama with random weights and the tiny tokenizer into ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
