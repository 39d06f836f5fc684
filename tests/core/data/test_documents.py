"""Raw text: which sources are text, documents from files and a column, the split and the token counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from studio_desktop.core.data import documents as documents_module
from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.data.documents import (
    Document,
    conversation_text,
    is_text_source,
    read_text_column,
    read_text_files,
    split_documents,
)
from studio_desktop.core.data.text_stats import text_statistics
from studio_desktop.core.errors import DataError


def test_text_sources_are_text_files_and_folders_of_them_without_tables(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("hello", encoding="utf-8")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "mixed" / "b.csv").write_text("x,y\n", encoding="utf-8")
    (tmp_path / "link").symlink_to(tmp_path / "notes")
    assert is_text_source(tmp_path / "notes") and is_text_source(tmp_path / "notes" / "a.md")
    assert not is_text_source(tmp_path / "mixed")  # a table beside the text: a table import
    assert not is_text_source(tmp_path / "mixed" / "b.csv")
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    (wrapper / "link").symlink_to(tmp_path / "notes")  # links are not followed
    assert not is_text_source(wrapper)


def test_a_document_too_long_or_not_text_is_refused_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(documents_module, "MAX_DOCUMENT_CHARS", 10)
    (tmp_path / "long.txt").write_text("x" * 11, encoding="utf-8")
    with pytest.raises(DataError, match=r"long\.txt: holds 11 characters, more than the 10"):
        read_text_files(tmp_path / "long.txt")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 50)
    with pytest.raises(DataError, match=r"binary\.txt"):
        read_text_files(tmp_path / "binary.txt")


def test_a_text_column_gives_a_document_per_non_blank_cell() -> None:
    frame = pd.DataFrame({"body": ["one", " ", "two"], "n": [1, 2, 3]})
    read = read_text_column(frame, None, Path("corpus.csv"))
    assert [(d.document_id, d.text, d.source) for d in read.documents] == [
        ("1", "one", "row 1"),
        ("3", "two", "row 3"),
    ]
    assert read.skipped_blank == 1
    with pytest.raises(DataError, match=r"corpus\.csv \(row 2, field 'body'\): holds a list"):
        read_text_column(pd.DataFrame({"body": ["a", ["b"]]}), "body", Path("corpus.csv"))
    with pytest.raises(DataError, match=r"cannot tell which column holds the text .* pass --text-column"):
        read_text_column(pd.DataFrame({"a": ["x"], "b": ["y"]}), None, Path("corpus.csv"))


def test_conversations_become_plain_text_and_splits_keep_at_least_one_each() -> None:
    conversation = Conversation(
        "7", "7", "Be brief.", (Message("user", "What is LoRA?"), Message("assistant", "Adapters.")), 3
    )
    assert conversation_text(conversation) == Document(
        "7", "Be brief.\n\nWhat is LoRA?\n\nAdapters.", "row 3"
    )
    docs = [Document(str(i), f"text {i}", f"row {i}") for i in range(2)]
    train, validation = split_documents(docs, 0.01, seed=1)
    assert len(train) == 1 and len(validation) == 1
    with pytest.raises(DataError, match="too few for a validation split"):
        split_documents(docs[:1], 0.5, seed=1)


def test_token_counts_are_exact_or_estimated_from_a_sample(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    docs = [
        Document(str(i), "The quick brown fox jumps over the lazy dog. " * (i + 1), f"row {i}")
        for i in range(40)
    ]
    exact = text_statistics(docs, tokenizer, max_length=64)
    true_tokens = sum(len(tokenizer(d.text, add_special_tokens=False)["input_ids"]) for d in docs)
    assert not exact.estimated and exact.tokens == true_tokens
    assert exact.blocks == -(-(true_tokens + 40) // 64)
    sampled = text_statistics(docs, tokenizer, max_length=64, sample_size=10)
    assert sampled.estimated and sampled.token_samples == 10
    assert sampled.tokens == pytest.approx(true_tokens, rel=0.05)
