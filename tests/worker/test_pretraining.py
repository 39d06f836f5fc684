"""Continued pretraining (text_causal_pretraining_modeling): raw text imports from files, folders and a text
column; packed blocks train with LoRA and fully, perplexity falls, a stopped run resumes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from studio_desktop.core.data.documents import read_documents
from studio_desktop.core.errors import DataError
from studio_desktop.core.events import Failed, Finished, Log, Metric, Started
from studio_desktop.core.problem_types import PRETRAINING
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.datasets import load_meta, split_files
from studio_desktop.jobs.experiment import create_experiment
from studio_desktop.worker.train import EXIT_FAILED, EXIT_FINISHED, run_training
from tests.support.cli import cli, ok
from tests.support.tiny_model import TRAINING_TEXT
from tests.worker.test_heads import write_rows
from tests.worker.test_training import assert_same_curve, stop_and_resume

PARAGRAPHS = [part.strip() for part in TRAINING_TEXT.strip().split(". ") if part.strip()]


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A folder of notes: 12 documents in .txt and .md files (one in a sub-folder), an empty text file and a
    picture, which a folder of text leaves out."""
    folder = tmp_path / "notes"
    (folder / "more").mkdir(parents=True)
    for index in range(12):
        suffix = ".md" if index % 3 == 0 else ".txt"
        target = folder / "more" if index == 11 else folder
        (target / f"note-{index:02d}{suffix}").write_text(
            " ".join(PARAGRAPHS[index % len(PARAGRAPHS) :] + PARAGRAPHS) + "\n", encoding="utf-8"
        )
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    (folder / "picture.png").write_bytes(b"\x89PNG not text")
    return folder


@pytest.fixture
def text_workdir(trained_workdir, tiny_model_dir: Path, notes: Path):
    wd, catalog = trained_workdir
    request = ImportRequest(source=notes, name="notes", backbone=str(tiny_model_dir), validation_size=0.25)
    import_dataset(wd, catalog, request)
    return wd, catalog


def cpt_config(make_config, name: str, **overrides):
    values = {
        "problem_type": PRETRAINING,
        "dataset__train_dataframe": "notes",
        "dataset__validation_size": 0.25,
        "training__save_checkpoint": "disable",
        "training__evaluate_before_training": True,
    }
    return make_config(name, **(values | overrides))


def test_a_folder_of_text_files_imports_as_documents_with_token_counts(text_workdir, tiny_model_dir) -> None:
    from transformers import AutoTokenizer

    wd, catalog = text_workdir
    record = catalog.dataset("notes")
    assert record.format == "text" and record.conversations == 12 and record.rows == 13
    assert (record.train_conversations, record.validation_conversations) == (9, 3)
    files = split_files(record)
    documents = read_documents(files["train"]) + read_documents(files["validation"])
    assert sorted(d.source for d in documents) == sorted(
        [f"note-{i:02d}{'.md' if i % 3 == 0 else '.txt'}" for i in range(11)] + ["more/note-11.txt"]
    )
    meta = load_meta(record)
    stats = meta["statistics"]
    assert meta["skipped_blank"] == 1 and stats["documents"] == 12 and not stats["estimated"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert stats["tokens"] == sum(
        len(tokenizer(d.text, add_special_tokens=False)["input_ids"]) for d in documents
    )
    assert stats["blocks"] == -(-(stats["tokens"] + 12) // 512)
    shown = ok(cli(wd.root, "dataset", "show", "notes"))
    assert "documents 12 (train 9, validation 3; 1 blank left out)" in shown
    assert f"{stats['tokens']:,}, about {stats['blocks']} blocks of 512 tokens" in shown


def test_a_text_column_imports_as_documents_and_other_settings_are_refused(
    trained_workdir, tiny_model_dir: Path, tmp_path: Path
) -> None:
    wd, catalog = trained_workdir
    rows = [[f"doc-{i}", PARAGRAPHS[i % len(PARAGRAPHS)]] for i in range(10)] + [["blank", " "]]
    source = write_rows(tmp_path / "corpus.csv", ["id", "body"], rows)
    request = ImportRequest(
        source=source, name="corpus", backbone=str(tiny_model_dir), mapping={"format": "text"}
    )
    record = import_dataset(wd, catalog, request)
    assert record.format == "text" and record.conversations == 10
    assert {d.source for d in read_documents(split_files(record)["train"])} <= {
        f"row {i}" for i in range(1, 11)
    }
    wrong = ImportRequest(
        source=source,
        name="wrong",
        backbone=str(tiny_model_dir),
        mapping={"format": "text", "text_column": "id2"},
    )
    with pytest.raises(
        DataError, match=r"corpus\.csv \(field 'id2'\): the text column 'id2' is not in the file"
    ):
        import_dataset(wd, catalog, wrong)
    flags = [
        "--name",
        "bodies",
        "--format",
        "text",
        "--text-column",
        "body",
        "--backbone",
        str(tiny_model_dir),
    ]
    imported = ok(cli(wd.root, "dataset", "import", str(source), *flags))
    assert "imported bodies: 11 rows, 10 documents" in imported


@pytest.mark.parametrize("lora", [True, False])
def test_continued_pretraining_lowers_perplexity(text_workdir, make_config, lora: bool) -> None:
    wd, catalog = text_workdir
    cfg = cpt_config(
        make_config, f"cpt-{lora}", training__epochs=8, training__lora=lora, tokenizer__max_length=64
    )
    experiment = create_experiment(wd, catalog, cfg)
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED, experiment.events()[-1]
    perplexity = [e.values["val/perplexity"] for e in experiment.events() if isinstance(e, Metric)
                  and "val/perplexity" in e.values]  # fmt: skip
    assert len(perplexity) == 9 and perplexity[-1] < perplexity[0] * 0.6, perplexity
    logs = [e.message for e in experiment.events() if isinstance(e, Log)]
    assert any("training tokens in 9 documents, packed into" in m and "blocks of up to 64" in m for m in logs)
    assert isinstance(experiment.events()[-1], Finished)
    started = next(e for e in experiment.events() if isinstance(e, Started))
    assert started.train_samples > 9  # blocks, not documents
    table = pd.read_csv(experiment.predictions_path, keep_default_na=False)
    assert list(table.columns) == ["block", "start", "tokens", "loss", "perplexity"]
    assert len(table) == started.validation_samples and table["loss"].is_monotonic_decreasing
    weighted = (table["loss"] * table["tokens"]).sum() / table["tokens"].sum()
    final = experiment.events()[-1]
    # The Trainer averages batch means, the table weighs every token alike: the two agree closely.
    assert weighted == pytest.approx(final.metrics["val/loss"], rel=1e-2)


def test_conversations_train_as_plain_text_and_raw_text_is_refused_elsewhere(
    text_workdir, make_config
) -> None:
    wd, catalog = text_workdir
    facts = create_experiment(
        wd, catalog, cpt_config(make_config, "cpt-facts", dataset__train_dataframe="facts")
    )
    assert run_training(wd.root, facts.path) == EXIT_FINISHED, facts.events()[-1]
    sft = create_experiment(wd, catalog, make_config("sft-notes", dataset__train_dataframe="notes"))
    assert run_training(wd.root, sft.path) == EXIT_FAILED
    failed = sft.events()[-1]
    assert isinstance(failed, Failed)
    assert (
        f"dataset 'notes' is raw text, without prompts and answers: train it with problem_type {PRETRAINING}"
        in (failed.message)
    )


def test_stop_then_resume_reproduces_the_uninterrupted_pretraining_curve(text_workdir, make_config) -> None:
    wd, catalog = text_workdir
    settings = {"training__epochs": 30, "training__save_checkpoint": "last", "tokenizer__max_length": 32}
    reference = create_experiment(wd, catalog, cpt_config(make_config, "cpt-straight", **settings))
    assert run_training(wd.root, reference.path) == EXIT_FINISHED
    interrupted = create_experiment(wd, catalog, cpt_config(make_config, "cpt-stopped", **settings))
    stop_and_resume(wd, interrupted, at_step=20)
    assert_same_curve(interrupted, reference, rel=1e-4)


def test_a_pretrained_model_chats_and_exports_like_any_run(text_workdir, make_config, tmp_path: Path) -> None:
    from studio_desktop.jobs.exports import export_experiment

    wd, catalog = text_workdir
    experiment = create_experiment(wd, catalog, cpt_config(make_config, "cpt-ship", training__epochs=1))
    assert run_training(wd.root, experiment.path) == EXIT_FINISHED
    chat = cli(wd.root, "chat", "cpt-ship", "--prompt", "The quick brown fox")
    assert chat.returncode == 0, chat.stderr
    out = export_experiment(wd, catalog, "cpt-ship", "merged", tmp_path / "export")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert PRETRAINING in card and "raw text packed into blocks of 64 tokens" in card
