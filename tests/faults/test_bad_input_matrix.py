"""Malformed datasets and configs through the real CLI: one clear message each, no traceback, nothing kept."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import cli, failed

QA_HEADER = "prompt,answer\n"
MESSAGES_OK = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}

# (case, file name, content, extra arguments, substrings the message must contain)
DATA_CASES = [
    ("empty file", "empty.csv", b"", [], ["empty.csv", "empty"]),
    ("header only", "header.csv", QA_HEADER.encode(), [], ["header.csv", "no data rows"]),
    (
        "broken JSON",
        "broken.json",
        b'[{"prompt": "a", "answer": "b"},\n {"prompt": }]',
        [],
        ["broken.json", "line 2"],
    ),
    (
        "truncated JSON",
        "cut.json",
        b'[{"prompt": "a", "answer": "b"}, {"prompt": "c", "ans',
        [],
        ["cut.json", "line 1"],
    ),
    ("JSON not a list", "number.json", b"42", [], ["number.json"]),
    (
        "invalid JSONL line",
        "bad.jsonl",
        b'{"prompt": "a", "answer": "b"}\n{"prompt": "c", "answer": "d"}\n{oops\n',
        [],
        ["bad.jsonl", "line 3"],
    ),
    (
        "JSONL line not an object",
        "list.jsonl",
        b'{"prompt": "a", "answer": "b"}\n[1, 2]\n',
        [],
        ["list.jsonl", "line 2"],
    ),
    (
        "binary garbage",
        "noise.csv",
        bytes(range(256)) * 8,
        [],
        ["noise.csv", "does not look like a text file"],
    ),
    ("image renamed", "picture.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, [], ["picture.csv", "PNG"]),
    (
        "duplicate column names",
        "dup.csv",
        b"prompt,answer,prompt\na,b,c\n",
        [],
        ["dup.csv", "duplicate", "prompt"],
    ),
    ("ragged row", "ragged.csv", b"prompt,answer\na,b\nc,d,e\n", [], ["ragged.csv", "row 2"]),
    (
        "mixed encodings",
        "mixed.csv",
        "prompt,answer\ncafé,ok\n".encode() + "naïve,x\n".encode("cp1252"),
        [],
        ["mixed.csv", "UTF-8"],
    ),
    (
        "missing mapped column",
        "qa.csv",
        b"prompt,answer\na,b\n",
        ["--answer-column", "reply"],
        ["qa.csv", "reply"],
    ),
    ("empty answer", "noanswer.csv", b"prompt,answer\na,b\nc,\n", [], ["noanswer.csv", "row 2", "answer"]),
    ("empty prompt", "noprompt.csv", b"prompt,answer\n,b\n", [], ["noprompt.csv", "row 1", "prompt"]),
    ("no recognisable columns", "cols.csv", b"x,y\n1,2\n", [], ["cols.csv", "'x', 'y'"]),
    (
        "unknown role",
        "roles.jsonl",
        json.dumps(
            {"messages": [{"role": "wizard", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
        ).encode(),
        [],
        ["roles.jsonl", "wizard"],
    ),
    (
        "no assistant turn",
        "silent.jsonl",
        (
            json.dumps(MESSAGES_OK) + "\n" + json.dumps({"messages": [{"role": "user", "content": "Hi"}]})
        ).encode(),
        [],
        ["silent.jsonl", "row 2", "assistant"],
    ),
    (
        "turn not an object",
        "turns.jsonl",
        json.dumps({"conversations": [{"from": "human", "value": "Hi"}, "gpt: hello"]}).encode(),
        [],
        ["turns.jsonl", "row 1"],
    ),
    (
        "duplicate ids",
        "ids.csv",
        b"id,parent_id,prompt,answer\n1,,a,b\n1,,c,d\n",
        [],
        ["ids.csv", "row 2", "id"],
    ),
    ("self reference", "self.csv", b"id,parent_id,prompt,answer\n1,1,a,b\n", [], ["self.csv", "row 1"]),
    (
        "cycle",
        "cycle.csv",
        b"id,parent_id,prompt,answer\n0,,x,y\n1,2,a,b\n2,1,c,d\n",
        [],
        ["cycle.csv", "cycle"],
    ),
    ("unsupported extension", "sheet.xlsx", b"PK\x03\x04", [], ["sheet.xlsx", ".xlsx"]),
    (
        "validation file missing",
        "qa.csv",
        QA_HEADER.encode() + b"a,b\nc,d\n",
        ["--validation-file", "nope.csv"],
        ["nope.csv"],
    ),
    ("invalid name", "qa.csv", QA_HEADER.encode() + b"a,b\nc,d\n", ["--name", "../escape"], ["../escape"]),
    (
        "uncached hub backbone offline",
        "qa.csv",
        QA_HEADER.encode() + b"a,b\nc,d\n",
        ["--backbone", "someone/not-cached"],
        ["someone/not-cached"],
    ),
]

CONFIG_CASES = [
    ("YAML syntax error", "training:\n  lora_r: [1\n", ["line 3"]),
    ("top level is a list", "- a\n- b\n", ["mapping of settings"]),
    ("section not a mapping", "training: 5\n", ["section 'training'"]),
    ("wrong type", "training:\n  lora_r: many\n", ["training.lora_r = 'many'"]),
    ("out of range", "training:\n  learning_rate: 5\n", ["training.learning_rate = 5"]),
    ("bad choice", "architecture:\n  backbone_dtype: int3\n", ["architecture.backbone_dtype = 'int3'"]),
    (
        "quantised without LoRA",
        "architecture:\n  backbone_dtype: int4\ntraining:\n  lora: false\n",
        ["training.lora"],
    ),
    ("loss of another problem type", "training:\n  loss_function: DPOLoss\n", ["training.loss_function"]),
    ("unknown problem type", "problem_type: text_magic\n", ["problem_type = 'text_magic'"]),
]


def assert_nothing_kept(workdir: Path) -> None:
    datasets = workdir / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []
    catalog = workdir / "catalog.sqlite"
    if catalog.exists():
        with sqlite3.connect(catalog) as conn:
            assert conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0


@pytest.mark.parametrize("bad", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_is_refused_clearly(tmp_path: Path, bad: tuple) -> None:
    case, name, content, extra, expected = bad
    source = tmp_path / name
    source.write_bytes(content)
    workdir = tmp_path / "workdir"
    message = failed(cli(workdir, "dataset", "import", str(source), *extra))
    for part in expected:
        assert part in message, (case, message)
    assert_nothing_kept(workdir)


def test_a_missing_file(tmp_path: Path) -> None:
    message = failed(cli(tmp_path / "workdir", "dataset", "import", str(tmp_path / "absent.csv")))
    assert "absent.csv" in message
    assert_nothing_kept(tmp_path / "workdir")


@pytest.mark.parametrize(("case", "text", "expected"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_configs_are_refused_clearly(tmp_path: Path, case: str, text: str, expected: list[str]) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(text)
    message = failed(cli(tmp_path / "workdir", "config", "validate", str(config)))
    assert str(config) in message, case
    for part in expected:
        assert part in message, (case, message)


def test_training_with_a_missing_config_file_changes_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "workdir"
    message = failed(cli(workdir, "train", "--config", str(tmp_path / "none.yaml")))
    assert "none.yaml" in message and "not found" in message
    assert not (workdir / "experiments").exists() or list((workdir / "experiments").iterdir()) == []
