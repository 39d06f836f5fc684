"""The real command line in a child process: help, datasets, backbones, configs and clean errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.cli import child_env, cli, failed, ok

NO_DISPLAY_VARS = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


def write_qa_csv(path: Path, rows: int) -> Path:
    lines = ["prompt,answer"] + [f"What is question {i}?,This is answer {i}." for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "workdir"


def test_help_lists_every_command_and_action(home: Path) -> None:
    top = ok(cli(home, "--help"))
    for command in ("gui", "init", "dataset", "backbone", "config"):
        assert f"    {command} " in top
    dataset = ok(cli(home, "dataset", "--help"))
    for action in ("import", "list", "show", "delete"):
        assert f"    {action} " in dataset


def test_config_defaults_describe_lists_every_setting_with_help(home: Path) -> None:
    from studio_desktop.core.config import PROBLEM_TYPES, describe_fields

    out = ok(cli(home, "config", "defaults", "--describe"))
    lines = out.splitlines()
    infos = describe_fields(PROBLEM_TYPES[0])
    assert len(infos) > 20
    for info in infos:
        header = f"{info.path} = {info.default!r}"
        assert header in lines, info.path
        assert lines[lines.index(header) + 1].strip().startswith(info.help)
    lora_r = lines.index("training.lora_r = 8")
    assert "LoRA rank" in lines[lora_r + 1]
    assert "from 1 to 1024" in lines[lora_r + 1]


def test_dataset_import_list_show_delete(home: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    source = write_qa_csv(tmp_path / "faq.csv", 20)
    imported = ok(cli(home, "dataset", "import", str(source), "--backbone", str(tiny_model_dir)))
    assert "imported faq: 20 rows, 20 conversations (18 train / 2 validation)" in imported

    listed = json.loads(ok(cli(home, "dataset", "list", "--json")))
    assert [(d["name"], d["rows"], d["conversations"], d["format"]) for d in listed] == [
        ("faq", 20, 20, "prompt_answer")
    ]
    assert Path(listed[0]["path"]) == home.resolve() / "datasets" / "faq"

    meta = json.loads(ok(cli(home, "dataset", "show", "faq", "--json")))
    assert meta["name"] == "faq"
    assert meta["statistics"]["conversations"] == 20
    assert meta["statistics"]["answer_tokens"]["max"] > 0
    assert meta["mapping"]["prompt_columns"] == ["prompt"]

    shown = ok(cli(home, "dataset", "show", "faq"))
    assert "faq  (prompt_answer" in shown
    assert "rows 20, conversations 20" in shown
    sample = shown.split("sample (trained spans in [[ ]]):", 1)[1]
    answer = next(s["text"] for s in meta["sample"] if s["trained"])
    assert f"[[{answer}]]" in sample
    assert "What is question" in sample.split("[[", 1)[0]

    assert "deleted faq" in ok(cli(home, "dataset", "delete", "faq"))
    assert json.loads(ok(cli(home, "dataset", "list", "--json"))) == []
    assert not (home / "datasets" / "faq").exists()

    message = failed(cli(home, "dataset", "delete", "faq"))
    assert "no dataset named 'faq'" in message


def test_bad_jsonl_fails_cleanly_and_imports_nothing(
    home: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    source = tmp_path / "broken.jsonl"
    source.write_text(
        '{"prompt": "a?", "answer": "b"}\n{"prompt": "c?", "answer": "d"}\n{"prompt": "e?", "answer": \n',
        encoding="utf-8",
    )
    message = failed(cli(home, "dataset", "import", str(source), "--backbone", str(tiny_model_dir)))
    assert str(source) in message
    assert "line 3" in message
    assert json.loads(ok(cli(home, "dataset", "list", "--json"))) == []
    assert [p.name for p in (home / "datasets").iterdir()] == []


def test_config_validate(home: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("training:\n  lora_r: 16\n", encoding="utf-8")
    assert "valid" in ok(cli(home, "config", "validate", str(good)))

    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {lora_r: 0}\n", encoding="utf-8")
    message = failed(cli(home, "config", "validate", str(bad)))
    assert "training.lora_r" in message
    assert str(bad) in message

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("training:\n  lora_rr: 3\n", encoding="utf-8")
    result = cli(home, "config", "validate", str(unknown))
    assert "1 setting(s) ignored" in ok(result)
    assert "warning" in result.stderr
    assert "training.lora_rr" in result.stderr

    message = failed(cli(home, "config", "validate", str(good), "--set", "training.lora_rr=3"))
    assert "training.lora_rr" in message
    assert "Did you mean: training.lora_r" in message


def test_registered_backbone_name_works_for_import(home: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    assert "added tiny" in ok(cli(home, "backbone", "add", str(tiny_model_dir), "--name", "tiny"))
    backbones = json.loads(ok(cli(home, "backbone", "list", "--json")))
    assert [(b["name"], b["location"]) for b in backbones["registered"]] == [
        ("tiny", str(tiny_model_dir.resolve()))
    ]

    source = write_qa_csv(tmp_path / "small.csv", 6)
    record = json.loads(ok(cli(home, "dataset", "import", str(source), "--backbone", "tiny", "--json")))
    assert (record["name"], record["conversations"]) == ("small", 6)
    meta = json.loads((Path(record["path"]) / "meta.json").read_text(encoding="utf-8"))
    assert meta["backbone"] == "tiny"
    assert meta["statistics"]["tokenizer_name"] == str(tiny_model_dir.resolve())


@pytest.mark.skipif(
    sys.platform != "linux", reason="displays are only detected from the environment on Linux"
)
def test_no_command_without_display_exits_with_a_message(home: Path) -> None:
    env = child_env(**dict.fromkeys(NO_DISPLAY_VARS))
    result = cli(home, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no display found" in result.stderr
    assert "studio-desktop --help" in result.stderr


def test_several_answer_columns_import_as_one_answer_per_row(
    home: Path, tmp_path: Path, tiny_model_dir
) -> None:
    from studio_desktop.core.data.store import read_conversations

    source = tmp_path / "tags.csv"
    source.write_text("text,toxic,spam\nhello there,0,1\nbuy now,1,1\nthanks,0,0\n", encoding="utf-8")
    args = ["dataset", "import", str(source), "--backbone", str(tiny_model_dir), "--prompt-column", "text"]
    ok(cli(home, *args, "--answer-column", "toxic", "--answer-column", "spam", "--validation-size", "0.34"))
    shown = json.loads(ok(cli(home, "dataset", "show", "tags", "--json")))
    assert shown["mapping"]["answer_column"] == "toxic"
    assert shown["mapping"]["extra_answer_columns"] == ["spam"]
    stored = read_conversations(home / "datasets" / "tags" / "train.parquet")
    stored += read_conversations(home / "datasets" / "tags" / "validation.parquet")
    assert sorted(c.answer for c in stored) == ["0,0", "0,1", "1,1"]

    source.write_text("text,toxic,spam\nhello there,0,1\nbuy now,1,\n", encoding="utf-8")
    refused = failed(
        cli(home, *args, "--name", "gaps", "--answer-column", "toxic", "--answer-column", "spam")
    )
    assert "tags.csv (row 2, field 'spam'): the cell is empty; every answer column needs a value" in refused
