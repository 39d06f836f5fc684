"""Importing data files end to end: every shape, hand-set mappings, names, nothing left behind on failure."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from studio_desktop.core.data.store import read_conversations
from studio_desktop.core.errors import BackboneError, CatalogError, DataError, StudioError
from studio_desktop.jobs.catalog import Catalog, DatasetRecord
from studio_desktop.jobs.dataset_import import ImportRequest, import_dataset
from studio_desktop.jobs.datasets import load_meta, split_files
from studio_desktop.jobs.workdir import Workdir, open_workdir

# A conversation as plain data: (system, ((role, content), ...)).
Plain = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture
def wd(workdir: Path) -> Workdir:
    return open_workdir()


@pytest.fixture
def catalog(wd: Workdir) -> Catalog:
    return Catalog(wd.catalog_path)


@pytest.fixture
def run(wd: Workdir, catalog: Catalog, tiny_model_dir: Path) -> Callable[..., DatasetRecord]:
    """Import ``source`` into the test's working directory with the tiny backbone."""

    def run_import(source: Path, **options: Any) -> DatasetRecord:
        options.setdefault("backbone", str(tiny_model_dir))
        return import_dataset(wd, catalog, ImportRequest(source=source, **options))

    return run_import


def plain(conversation: Any) -> Plain:
    return conversation.system, tuple((m.role, m.content) for m in conversation.messages)


def stored(record: DatasetRecord) -> tuple[list[Any], list[Any]]:
    files = split_files(record)
    return read_conversations(files["train"]), read_conversations(files["validation"])


def state(wd: Workdir, catalog: Catalog) -> tuple[list[str], list[DatasetRecord]]:
    """Everything an import may change: the entries of ``datasets/`` and the catalogue rows."""
    return sorted(p.name for p in wd.datasets.iterdir()), catalog.datasets()


def write_csv(path: Path, header: list[str], rows: list[list[Any]], delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- every shape, end to end --------------------------------------------------------------------------------


def qa(i: int) -> tuple[str, str]:
    return f"What is question number {i}?", f"This is the answer to question {i}."


def alpaca_json(tmp_path: Path) -> tuple[Path, list[Plain]]:
    records, expected = [], []
    for i in range(12):
        question, answer = qa(i)
        extra = f"context {i}" if i % 2 else ""
        records.append({"instruction": question, "input": extra, "output": answer})
        prompt = f"{question}\n\n{extra}" if extra else question
        expected.append(("", (("user", prompt), ("assistant", answer))))
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return path, expected


def sharegpt_jsonl(tmp_path: Path) -> tuple[Path, list[Plain]]:
    records, expected = [], []
    for i in range(12):
        q1, a1 = qa(i)
        q2, a2 = f"And a follow-up on {i}?", f"Follow-up answer {i}."
        turns = [
            {"from": "human", "value": q1},
            {"from": "gpt", "value": a1},
            {"from": "human", "value": q2},
            {"from": "gpt", "value": a2},
        ]
        records.append({"conversations": turns})
        expected.append(("", (("user", q1), ("assistant", a1), ("user", q2), ("assistant", a2))))
    return write_jsonl(tmp_path / "chats.jsonl", records), expected


def messages_jsonl(tmp_path: Path) -> tuple[Path, list[Plain]]:
    records, expected = [], []
    for i in range(12):
        question, answer = qa(i)
        system = f"You are assistant number {i}."
        records.append(
            {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
        expected.append((system, (("user", question), ("assistant", answer))))
    return write_jsonl(tmp_path / "openai.jsonl", records), expected


def prompt_answer_csv(tmp_path: Path) -> tuple[Path, list[Plain]]:
    rows = [list(qa(i)) for i in range(12)]
    expected = [("", (("user", q), ("assistant", a))) for q, a in rows]
    return write_csv(tmp_path / "flat.csv", ["prompt", "answer"], rows), expected


def parquet_file(tmp_path: Path) -> tuple[Path, list[Plain]]:
    rows = [qa(i) for i in range(12)]
    path = tmp_path / "table.parquet"
    pd.DataFrame({"question": [q for q, _ in rows], "response": [a for _, a in rows]}).to_parquet(path)
    return path, [("", (("user", q), ("assistant", a))) for q, a in rows]


def saved_dataset(tmp_path: Path) -> tuple[Path, list[Plain]]:
    import datasets

    rows = [qa(i) for i in range(12)]
    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"prompt": [q for q, _ in rows], "answer": [a for _, a in rows]}).save_to_disk(
        str(folder)
    )
    return folder, [("", (("user", q), ("assistant", a))) for q, a in rows]


SHAPES = {
    "alpaca-json": (
        alpaca_json,
        "alpaca",
        {"prompt_columns": ["instruction", "input"], "answer_column": "output"},
    ),
    "sharegpt-jsonl": (sharegpt_jsonl, "sharegpt", {"conversation_column": "conversations"}),
    "messages-jsonl": (messages_jsonl, "messages", {"conversation_column": "messages"}),
    "prompt-answer-csv": (
        prompt_answer_csv,
        "prompt_answer",
        {"prompt_columns": ["prompt"], "answer_column": "answer"},
    ),
    "parquet": (parquet_file, "prompt_answer", {"prompt_columns": ["question"], "answer_column": "response"}),
    "save-to-disk": (
        saved_dataset,
        "prompt_answer",
        {"prompt_columns": ["prompt"], "answer_column": "answer"},
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_imports_end_to_end(
    shape: str, tmp_path: Path, run: Callable[..., DatasetRecord], wd: Workdir, catalog: Catalog
) -> None:
    build, fmt, mapping = SHAPES[shape]
    source, expected = build(tmp_path)
    record = run(source)

    assert record.name == source.stem
    assert record.format == fmt
    assert record.rows == len(expected)
    assert record.conversations == len(expected)
    assert record.train_conversations + record.validation_conversations == len(expected)
    assert record.validation_conversations == round(0.1 * len(expected))
    assert record.source == str(source.resolve())
    assert Path(record.path) == wd.datasets / record.name
    assert catalog.datasets() == [record]
    assert sorted(p.name for p in wd.datasets.iterdir()) == [record.name]

    train, validation = stored(record)
    assert len(train) == record.train_conversations
    assert len(validation) == record.validation_conversations
    assert sorted(plain(c) for c in train + validation) == sorted(expected)

    meta = load_meta(record)
    assert meta["name"] == record.name
    assert meta["format"] == fmt
    assert {k: meta["mapping"][k] for k in mapping} == mapping
    assert meta["rows"] == len(expected)
    assert meta["train_conversations"] == len(train)
    assert meta["validation_conversations"] == len(validation)
    stats = meta["statistics"]
    assert stats["conversations"] == len(expected)
    assert stats["turns"] == sum(len(messages) // 2 for _, messages in expected)
    assert stats["answer_tokens"]["min"] > 0
    assert stats["prompt_tokens"]["min"] > 0
    assert stats["total_tokens"]["max"] >= stats["answer_tokens"]["max"]
    assert stats["max_length"] == 512
    sample = meta["sample"]
    trained = "".join(s["text"] for s in sample if s["trained"])
    untrained = "".join(s["text"] for s in sample if not s["trained"])
    first_system, first_messages = plain(train[0])
    assert first_messages[-1][1] in trained
    assert first_messages[0][1] in untrained
    assert first_messages[0][1] not in trained
    assert first_system in untrained

    kept = Path(record.path) / "source" / source.name
    if source.is_dir():
        assert sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in source.iterdir())
    else:
        assert kept.read_bytes() == source.read_bytes()


def chain_csv(tmp_path: Path) -> tuple[Path, dict[str, list[tuple[str, str]]]]:
    """Eight trees of three exchanges each (one of them branching at the second) and six single rows.

    Returns the file and, for every leaf id, the (prompt, answer) pairs from its root down to it.
    """
    rows: list[list[str]] = []
    leaves: dict[str, list[tuple[str, str]]] = {}
    for tree in range(8):
        chain: list[tuple[str, str]] = []
        parent = ""
        for depth in range(3):
            row_id = f"t{tree}-{depth}"
            exchange = (f"tree {tree} question {depth}", f"tree {tree} answer {depth}")
            rows.append([row_id, parent, *exchange])
            chain.append(exchange)
            parent = row_id
        leaves[parent] = chain
        if tree == 0:
            branch = ("tree 0 other question", "tree 0 other answer")
            rows.append(["t0-b", "t0-0", *branch])
            leaves["t0-b"] = [chain[0], branch]
    for single in range(6):
        exchange = (f"single question {single}", f"single answer {single}")
        rows.append([f"s{single}", "", *exchange])
        leaves[f"s{single}"] = [exchange]
    rows.reverse()  # children before parents: the order of rows must not matter
    return write_csv(tmp_path / "chains.csv", ["id", "parent_id", "prompt", "answer"], rows), leaves


@pytest.mark.parametrize("seed", [1, 2, 3, 1337])
def test_id_parent_id_chains_keep_trees_in_one_split(
    seed: int, tmp_path: Path, run: Callable[..., DatasetRecord]
) -> None:
    source, leaves = chain_csv(tmp_path)
    record = run(source, validation_size=0.3, seed=seed)
    assert record.rows == 8 * 3 + 1 + 6
    assert record.conversations == len(leaves) == 8 + 1 + 6
    meta = load_meta(record)
    assert meta["mapping"]["id_column"] == "id"
    assert meta["mapping"]["parent_id_column"] == "parent_id"
    assert meta["statistics"]["turns"] == sum(len(chain) for chain in leaves.values())
    assert meta["statistics"]["turns_histogram"]["counts"] == [6, 1, 8]

    train, validation = stored(record)
    assert train
    assert validation
    for conversation in train + validation:
        chain = leaves[conversation.conversation_id]
        expected = tuple(turn for q, a in chain for turn in (("user", q), ("assistant", a)))
        assert plain(conversation) == ("", expected)
        tree = conversation.conversation_id.split("-")[0]
        assert conversation.tree_id == (f"{tree}-0" if tree.startswith("t") else tree)
    assert sorted(c.conversation_id for c in train + validation) == sorted(leaves)
    train_trees = {c.tree_id for c in train}
    validation_trees = {c.tree_id for c in validation}
    assert not train_trees & validation_trees
    assert {"t0-b", "t0-2"} <= {c.conversation_id for c in train} or {"t0-b", "t0-2"} <= {
        c.conversation_id for c in validation
    }


# --- mapping, validation file, names ------------------------------------------------------------------------


def test_hand_set_mapping_maps_unknown_columns(tmp_path: Path, run: Callable[..., DatasetRecord]) -> None:
    source = write_csv(tmp_path / "qa.csv", ["q", "a"], [list(qa(i)) for i in range(5)])
    with pytest.raises(DataError) as info:
        run(source)
    message = str(info.value)
    assert str(source) in message
    assert "columns found: 'q', 'a'" in message

    record = run(source, mapping={"prompt_columns": ["q"], "answer_column": "a"})
    assert record.format == "prompt_answer"
    assert load_meta(record)["mapping"]["prompt_columns"] == ["q"]
    train, validation = stored(record)
    assert sorted(plain(c) for c in train + validation) == sorted(
        ("", (("user", q), ("assistant", a))) for q, a in (qa(i) for i in range(5))
    )


def test_custom_validation_file_replaces_the_split(tmp_path: Path, run: Callable[..., DatasetRecord]) -> None:
    source = write_csv(tmp_path / "train.csv", ["prompt", "answer"], [list(qa(i)) for i in range(10)])
    held = write_csv(
        tmp_path / "held.csv", ["prompt", "answer"], [["held out?", f"held answer {i}"] for i in range(3)]
    )
    record = run(source, validation_file=held)
    assert (record.train_conversations, record.validation_conversations, record.conversations) == (10, 3, 13)
    train, validation = stored(record)
    assert [plain(c) for c in train] == [
        ("", (("user", q), ("assistant", a))) for q, a in (qa(i) for i in range(10))
    ]
    assert [c.answer for c in validation] == ["held answer 0", "held answer 1", "held answer 2"]
    assert load_meta(record)["validation"] == str(held)


def test_duplicate_explicit_name_is_refused_and_changes_nothing(
    tmp_path: Path, run: Callable[..., DatasetRecord], wd: Workdir, catalog: Catalog
) -> None:
    source = write_csv(tmp_path / "flat.csv", ["prompt", "answer"], [list(qa(i)) for i in range(4)])
    first = run(source, name="mine")
    before = state(wd, catalog)
    meta_before = (Path(first.path) / "meta.json").read_bytes()
    other = write_csv(tmp_path / "other.csv", ["prompt", "answer"], [["x?", "y"], ["z?", "w"]])
    with pytest.raises(CatalogError, match="'mine' already exists"):
        run(other, name="mine")
    assert state(wd, catalog) == before
    assert (Path(first.path) / "meta.json").read_bytes() == meta_before


def test_default_names_come_from_the_file_and_count_up(
    tmp_path: Path, run: Callable[..., DatasetRecord]
) -> None:
    source = write_csv(tmp_path / "support faq.csv", ["prompt", "answer"], [list(qa(i)) for i in range(4)])
    names = [run(source).name for _ in range(3)]
    assert names == ["support-faq", "support-faq-2", "support-faq-3"]


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "x" * 101])
def test_invalid_names_are_refused(
    name: str, tmp_path: Path, run: Callable[..., DatasetRecord], wd: Workdir, catalog: Catalog
) -> None:
    source = write_csv(tmp_path / "flat.csv", ["prompt", "answer"], [list(qa(i)) for i in range(4)])
    if not name:
        assert run(source, name=name).name == "flat"  # an empty name means "derive one"
        return
    before = state(wd, catalog)
    with pytest.raises(StudioError, match="not allowed"):
        run(source, name=name)
    assert state(wd, catalog) == before
    assert not (wd.root / "x").exists()


# --- bad input loses nothing --------------------------------------------------------------------------------

MESSAGES_OK = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}

BAD_INPUTS: dict[str, tuple[str, bytes, dict[str, Any], list[str]]] = {
    "empty file": ("empty.csv", b"", {}, ["is empty"]),
    "header only": ("header.csv", b"prompt,answer\n", {}, ["no data rows"]),
    "missing column": (
        "missing.csv",
        b"prompt,answer\nhi,there\n",
        {"prompt_columns": ["question"]},
        ["'question' is not in the file", "'prompt', 'answer'"],
    ),
    "empty answer": (
        "noanswer.csv",
        b"prompt,answer\nhi,there\nhello,\nbye,now\n",
        {},
        ["row 2", "field 'answer'", "answer is empty"],
    ),
    "empty prompt": (
        "noprompt.csv",
        b"prompt,answer\nhi,there\n  ,orphan\n",
        {},
        ["row 2", "field 'prompt'", "prompt is empty"],
    ),
    "broken json": (
        "broken.json",
        b'[\n  {"prompt": "a", "answer": "b"},\n  {"prompt": "c" "answer": "d"}\n]\n',
        {},
        ["line 3", "column 18", "not valid JSON"],
    ),
    "invalid jsonl line": (
        "broken.jsonl",
        b'{"prompt": "a", "answer": "b"}\n{"prompt": "c", "answer": "d"}\n{"prompt": "e", "answer":\n',
        {},
        ["line 3", "not valid JSON"],
    ),
    "unknown role": (
        "roles.jsonl",
        (
            json.dumps(MESSAGES_OK)
            + "\n"
            + json.dumps(
                {"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "x"}]}
            )
            + "\n"
        ).encode(),
        {},
        ["row 2", "field 'messages'", "unknown role 'robot'"],
    ),
    "no assistant turn": (
        "unanswered.jsonl",
        (
            json.dumps(MESSAGES_OK)
            + "\n"
            + json.dumps({"messages": [{"role": "user", "content": "hi?"}]})
            + "\n"
        ).encode(),
        {},
        ["row 2", "field 'messages'", "no assistant turn"],
    ),
    "undecodable text": (
        "latin.csv",
        b"prompt,answer\nhi," + bytes(range(0x80, 0x100)) + b"\n",
        {},
        ["line 2", "UTF-8"],
    ),
    "mixed encodings": (
        "mixed.csv",
        "prompt,answer\ncafé?,oui\n".encode() + "thé?,non\n".encode("cp1252"),
        {},
        ["line 3", "mixes UTF-8"],
    ),
    "binary garbage": ("noise.csv", bytes(range(256)) * 4, {}, ["does not look like a text file"]),
    "duplicate columns": (
        "dupcols.csv",
        b"prompt,answer,answer\nhi,there,again\n",
        {},
        ["duplicate column", "field 'answer'"],
    ),
    "duplicate ids": (
        "dupids.csv",
        b"id,parent_id,prompt,answer\n1,,a,b\n2,1,c,d\n1,,e,f\n",
        {},
        ["row 3", "field 'id'", "id '1' is also used by row 1"],
    ),
    "self reference": (
        "self.csv",
        b"id,parent_id,prompt,answer\n1,,a,b\n2,2,c,d\n",
        {},
        ["row 2", "field 'parent_id'", "names itself"],
    ),
    "two-cycle": (
        "cycle.csv",
        b"id,parent_id,prompt,answer\n1,,a,b\n2,3,c,d\n3,2,e,f\n",
        {},
        ["row 2", "field 'parent_id'", "rows 2, 3 form a cycle"],
    ),
}


@pytest.fixture
def populated(tmp_path: Path, run: Callable[..., DatasetRecord]) -> DatasetRecord:
    """A working directory that already holds one dataset."""
    good = tmp_path / "existing"
    good.mkdir()
    return run(write_csv(good / "existing.csv", ["prompt", "answer"], [list(qa(i)) for i in range(4)]))


@pytest.fixture
def snapshot(wd: Workdir, catalog: Catalog) -> Callable[[], tuple[list[str], list[DatasetRecord]]]:
    return lambda: state(wd, catalog)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_a_clear_error_and_loses_nothing(
    case: str,
    tmp_path: Path,
    run: Callable[..., DatasetRecord],
    snapshot: Callable[[], tuple[list[str], list[DatasetRecord]]],
    populated: DatasetRecord,
) -> None:
    file_name, content, mapping, fragments = BAD_INPUTS[case]
    source = tmp_path / file_name
    source.write_bytes(content)
    before = snapshot()
    with pytest.raises(StudioError) as info:
        run(source, mapping=mapping)
    message = str(info.value)
    assert str(source) in message
    for fragment in fragments:
        assert fragment in message
    assert "Traceback" not in message
    assert snapshot() == before
    assert before == ([populated.name], [populated])
    assert source.read_bytes() == content


def test_missing_backbone_raises_and_loses_nothing(
    tmp_path: Path, run: Callable[..., DatasetRecord], wd: Workdir, catalog: Catalog, populated: DatasetRecord
) -> None:
    source = write_csv(tmp_path / "flat.csv", ["prompt", "answer"], [list(qa(i)) for i in range(4)])
    before = state(wd, catalog)
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackboneError) as info:
        run(source, backbone=str(missing))
    assert str(missing) in str(info.value)
    assert state(wd, catalog) == before


# --- text that must survive ---------------------------------------------------------------------------------


def imported_pairs(record: DatasetRecord) -> list[tuple[str, str]]:
    train, validation = stored(record)
    return sorted((c.messages[0].content, c.answer) for c in train + validation)


def legacy_csv(path: Path, rows: list[tuple[str, str]], encoding: str) -> Path:
    text = "prompt,answer\n" + "".join(f"{q},{a}\n" for q, a in rows)
    path.write_bytes(text.encode(encoding))
    return path


def test_legacy_encoding_that_can_be_decoded_imports(
    tmp_path: Path, run: Callable[..., DatasetRecord]
) -> None:
    rows = [
        ("Où est le café ?", "Un café au lait."),
        ("Très bien; à bientôt !", "Il était une fois à Paris."),
    ]
    rows += [(f"plain question {i}", f"plain answer {i}") for i in range(4)]
    assert imported_pairs(run(legacy_csv(tmp_path / "legacy.csv", rows, "cp1252"))) == sorted(rows)


@pytest.mark.parametrize("text", ["Le café est à côté de la gare.", "Grüße aus Köln"])
def test_common_cp1252_text_is_not_garbled(
    text: str, tmp_path: Path, run: Callable[..., DatasetRecord]
) -> None:
    rows = [(text, "ok"), ("plain", "text")]
    assert imported_pairs(run(legacy_csv(tmp_path / "legacy.csv", rows, "cp1252"))) == sorted(rows)


def test_bom_quoted_newlines_and_semicolons(tmp_path: Path, run: Callable[..., DatasetRecord]) -> None:
    rows = [("first line\nsecond line", 'an answer with "quotes", a comma'), ("q2", "a2"), ("q3", "a3")]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([["prompt", "answer"], *rows])
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode())
    record = run(bom)
    mapping = load_meta(record)["mapping"]
    assert (mapping["prompt_columns"], mapping["answer_column"]) == (["prompt"], "answer")
    assert imported_pairs(record) == sorted(rows)

    semi_rows = [("hello, world?", "hi, there"), ("a, b?", "c, d"), ("e?", "f")]
    semi = write_csv(
        tmp_path / "semi.csv", ["question", "response"], [list(r) for r in semi_rows], delimiter=";"
    )
    assert imported_pairs(run(semi)) == sorted(semi_rows)


def test_stale_import_folders_of_dead_processes_are_removed(
    tmp_path: Path, run: Callable[..., DatasetRecord], wd: Workdir
) -> None:
    stale = wd.datasets / ".importing-999999999-x"
    (stale / "source").mkdir(parents=True)
    (stale / "train.parquet").write_bytes(b"half written")
    source = write_csv(tmp_path / "flat.csv", ["prompt", "answer"], [list(qa(i)) for i in range(4)])
    record = run(source)
    assert sorted(p.name for p in wd.datasets.iterdir()) == [record.name]


# --- one tokenizer load, one tokenization per sampled conversation -----------------------------------------


def spy_tokenizers(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[int]]:
    """Record which loader ran (light or transformers) and the size of every tokenizer call."""
    import transformers

    from studio_desktop.jobs import dataset_import

    loads: list[str] = []
    batches: list[int] = []

    def counting(tokenizer: Any) -> Any:
        original_call = type(tokenizer).__call__

        def call(self: Any, text: Any = None, *args: Any, **kwargs: Any) -> Any:
            batches.append(len(text) if isinstance(text, list | tuple) else 1)
            return original_call(self, text, *args, **kwargs)

        monkeypatch.setattr(type(tokenizer), "__call__", call)
        return tokenizer

    def spy(kind: str, loader: Callable[..., Any]) -> Callable[..., Any]:
        def load(*args: Any, **kwargs: Any) -> Any:
            tokenizer = loader(*args, **kwargs)
            if tokenizer is not None:
                loads.append(kind)
                counting(tokenizer)
            return tokenizer

        return load

    light = dataset_import.load_light_tokenizer
    monkeypatch.setattr(dataset_import, "load_light_tokenizer", spy("light", light))
    full = transformers.AutoTokenizer.from_pretrained
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy("transformers", full))
    return loads, batches


def test_tokenizer_loaded_once_without_transformers_and_a_sample_tokenized_once(
    tmp_path: Path, run: Callable[..., DatasetRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio_desktop.core.data.stats import STATISTICS_SAMPLE

    loads, batches = spy_tokenizers(monkeypatch)
    rows = [[f"question {i} about training", f"answer {i} about the learning rate"] for i in range(3000)]
    source = write_csv(tmp_path / "big.csv", ["prompt", "answer"], rows)
    record = run(source)
    assert record.conversations == 3000
    assert loads == ["light"]
    assert sum(batches) == STATISTICS_SAMPLE < 3000
    stats = load_meta(record)["statistics"]
    assert stats["conversations"] == 3000
    assert stats["token_samples"] == STATISTICS_SAMPLE
    assert sum(stats["total_tokens"]["histogram"]["counts"]) == STATISTICS_SAMPLE
    assert sum(stats["turns_histogram"]["counts"]) == 3000


def test_a_tokenizer_the_light_loader_cannot_read_goes_through_transformers(
    tmp_path: Path, run: Callable[..., DatasetRecord], monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["tokenizer_class"] = "GPT2Tokenizer"
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    loads, batches = spy_tokenizers(monkeypatch)
    source = write_csv(tmp_path / "flat.csv", ["prompt", "answer"], [list(qa(i)) for i in range(20)])
    record = run(source, backbone=str(folder))
    assert loads == ["transformers"]
    assert sum(batches) == 20
    assert load_meta(record)["statistics"]["token_samples"] == 20


def test_links_inside_a_saved_dataset_folder_are_not_followed(
    tmp_path: Path, run: Callable[..., DatasetRecord]
) -> None:
    folder, expected = saved_dataset(tmp_path)
    (folder / "root").symlink_to("/")
    (folder / "parent").symlink_to("..")  # followed, this recursed until the disk was full
    os.mkfifo(folder / "pipe")  # read, this would wait forever
    record = run(folder)
    assert sorted(plain(c) for c in stored(record)[0] + stored(record)[1]) == sorted(expected)
    copied = Path(record.path) / "source" / folder.name
    assert not any((copied / name).exists() for name in ("root", "parent", "pipe"))
    assert not any(path.is_symlink() for path in copied.rglob("*"))
    size = sum(path.stat().st_size for path in copied.rglob("*") if path.is_file())
    assert size == sum(
        path.stat().st_size for path in folder.iterdir() if path.is_file() and not path.is_symlink()
    )


def test_the_kept_copy_is_bounded_by_the_size_that_was_read(tmp_path: Path) -> None:
    from studio_desktop.jobs.dataset_import import copy_source, plain_size

    folder, _ = saved_dataset(tmp_path)
    size = plain_size(folder)
    assert size == sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    copy_source(folder, tmp_path / "kept", size)
    assert plain_size(tmp_path / "kept" / folder.name) == size
    (folder / "late.bin").write_bytes(b"x" * 1000)  # a file written after the data was read
    with pytest.raises(DataError, match=f"the data grew while it was imported .over the {size:,} bytes"):
        copy_source(folder, tmp_path / "grown", size)
    log = tmp_path / "growing.log"
    log.write_bytes(b"a" * 100)
    with pytest.raises(DataError, match=r"growing\.log"):  # a file that grew past what was read
        copy_source(log, tmp_path / "one", 60)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"validation_size": 0.0}, r"validation share \(--validation-size\) of 0.0 is not allowed"),
        ({"validation_size": float("nan")}, "of nan is not allowed"),
        ({"max_length": 0}, r"token limit \(--max-length\) of 0 is not allowed"),
    ],
)
def test_a_split_or_token_limit_that_cannot_work_is_refused_before_reading(
    tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(StudioError, match=message):
        ImportRequest(source=tmp_path / "not-read-at-all.csv", **options)


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("données d'été.csv", "donnees-d-ete"),
        ("数据.csv", "dataset"),
        ("x" * 300 + ".csv", "x" * 90),
    ],
)
def test_a_name_from_a_file_name_is_always_a_valid_name(file_name: str, expected: str) -> None:
    from studio_desktop.jobs.dataset_import import name_from_file
    from studio_desktop.jobs.workdir import check_name

    assert check_name(name_from_file(Path(file_name)), "dataset") == expected


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    from studio_desktop.jobs.workdir import check_name

    with pytest.raises(StudioError, match="is not allowed"):
        check_name("name\n", "dataset")
