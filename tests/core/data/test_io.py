"""Reading user data files: every format, encodings, and a clear DataError for every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from studio_desktop.core.data.io import describe_file_kind, read_table
from studio_desktop.core.data.suffixes import TABLE_SUFFIXES
from studio_desktop.core.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[3]
MESSAGES = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def error_for(path: Path) -> str:
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert path.name in message
    return message


# --- CSV and other delimited text ---------------------------------------------------------------------


def test_csv_cells_stay_exact_strings_and_empty_cells_are_empty_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "id,parent_id,text,score\n007,,NaN,1.50\n8,007, spaced ,NULL\n")
    frame = read_table(path)
    assert list(frame.columns) == ["id", "parent_id", "text", "score"]
    assert frame.to_dict("records") == [
        {"id": "007", "parent_id": "", "text": "NaN", "score": "1.50"},
        {"id": "8", "parent_id": "007", "text": " spaced ", "score": "NULL"},
    ]
    assert isinstance(frame.index, pd.RangeIndex)


def test_csv_with_numeric_header_still_reads_every_cell_as_text(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "years.csv", "2023,2024\n007,1.0\n8,True\n"))
    assert list(frame.columns) == ["2023", "2024"]
    assert frame["2023"].tolist() == ["007", "8"]
    assert frame["2024"].tolist() == ["1.0", "True"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("tabs.tsv", "prompt\tanswer\nHi, you\tHello; there\n"),
        ("tabs.csv", "prompt\tanswer\nHi, you\tHello; there\n"),
        ("semi.csv", "prompt;answer\nHi, you\tthere;Hello\n"),
        ("pipe.csv", "prompt|answer\nHi, you|Hello; there\n"),
    ],
)
def test_delimiter_is_sniffed(tmp_path: Path, name: str, content: str) -> None:
    frame = read_table(write(tmp_path, name, content))
    assert list(frame.columns) == ["prompt", "answer"]
    assert len(frame) == 1
    assert frame.loc[0, "prompt"].startswith("Hi, you")


def test_comma_wins_when_two_delimiters_fit_equally(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "tie.csv", "a,b;c\n1,2;3\n"))
    assert list(frame.columns) == ["a", "b;c"]


def test_single_column_csv(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "one.csv", "text\nhello\nworld\n"))
    assert frame["text"].tolist() == ["hello", "world"]


def test_quoted_newlines_and_doubled_quotes(tmp_path: Path) -> None:
    content = 'q,a\r\n"Two\nlines","He said ""hi""\r\nthen left"\r\nx,y\r\n'
    frame = read_table(write(tmp_path, "multi.csv", content))
    assert frame.to_dict("records") == [
        {"q": "Two\nlines", "a": 'He said "hi"\r\nthen left'},
        {"q": "x", "a": "y"},
    ]


def test_short_rows_are_padded_with_empty_strings(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "short.csv", "a,b,c\n1,2\n"))
    assert frame.to_dict("records") == [{"a": "1", "b": "2", "c": ""}]


def test_large_csv_with_quoted_newlines_past_the_sniffing_sample(tmp_path: Path) -> None:
    rows = [f'{i},"answer {i}\nsecond line; with | and \t"' for i in range(5000)]
    frame = read_table(write(tmp_path, "big.csv", "id,answer\n" + "\n".join(rows) + "\n"))
    assert len(frame) == 5000
    assert frame.loc[4999, "answer"] == "answer 4999\nsecond line; with | and \t"


def test_header_names_are_stripped(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "spaces.csv", " id , text \n1,x\n"))
    assert list(frame.columns) == ["id", "text"]


# --- other formats ----------------------------------------------------------------------------------------


def test_parquet_keeps_nested_values_as_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "chat.parquet"
    pd.DataFrame({"messages": MESSAGES, "id": ["a", "b"], "n": [1, 2]}).to_parquet(path)
    frame = read_table(path)
    assert list(frame.columns) == ["messages", "id", "n"]
    assert frame.loc[0, "messages"] == MESSAGES[0]
    assert type(frame.loc[0, "messages"]) is list
    assert type(frame.loc[0, "messages"][0]) is dict
    assert frame["n"].tolist() == [1, 2]


def test_parquet_pq_suffix_and_named_index_becomes_a_column(tmp_path: Path) -> None:
    path = tmp_path / "DATA.PQ"
    pd.DataFrame({"id": ["x", "y"], "text": ["a", "b"]}).set_index("id").to_parquet(path)
    frame = read_table(path)
    assert frame.to_dict("records") == [{"id": "x", "text": "a"}, {"id": "y", "text": "b"}]


def test_json_array_of_objects(tmp_path: Path) -> None:
    records = [{"conversations": [{"from": "human", "value": "Hi"}], "id": "1"}, {"id": "2", "extra": 3}]
    frame = read_table(write(tmp_path, "share.json", json.dumps(records, indent=2)))
    assert frame.loc[0, "conversations"] == [{"from": "human", "value": "Hi"}]
    assert frame["id"].tolist() == ["1", "2"]
    assert frame.loc[1, "extra"] == 3


def test_json_object_holding_one_list_of_records(tmp_path: Path) -> None:
    document = {"version": "1.0", "data": [{"messages": m} for m in MESSAGES]}
    frame = read_table(write(tmp_path, "wrapped.JSON", json.dumps(document)))
    assert frame["messages"].tolist() == MESSAGES


@pytest.mark.parametrize("name", ["chat.jsonl", "chat.ndjson", "CHAT.JSONL"])
def test_jsonl_with_nested_lists_and_blank_lines(tmp_path: Path, name: str) -> None:
    lines = [json.dumps({"messages": m}, ensure_ascii=False) for m in MESSAGES]
    frame = read_table(write(tmp_path, name, lines[0] + "\r\n\n   \n" + lines[1] + "\n"))
    assert frame["messages"].tolist() == MESSAGES
    assert type(frame.loc[1, "messages"][1]) is dict


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    text = "a\u2028b\x85c"
    frame = read_table(write(tmp_path, "sep.jsonl", json.dumps({"t": text}, ensure_ascii=False) + "\n"))
    assert frame["t"].tolist() == [text]


def test_hf_save_to_disk_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"messages": MESSAGES, "id": ["a", "b"]}).save_to_disk(str(folder))
    assert describe_file_kind(folder) == "hf-disk"
    frame = read_table(folder)
    assert frame["id"].tolist() == ["a", "b"]
    assert frame.loc[1, "messages"] == MESSAGES[1]
    assert type(frame.loc[1, "messages"]) is list


@pytest.mark.parametrize(
    ("splits", "expected"), [(("test", "train"), "train"), (("validation",), "validation")]
)
def test_hf_dataset_dict_takes_train_or_the_only_split(
    tmp_path: Path, splits: tuple[str, ...], expected: str
) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "dd"
    parts = {name: datasets.Dataset.from_dict({"split": [name, name]}) for name in splits}
    datasets.DatasetDict(parts).save_to_disk(str(folder))
    assert read_table(folder)["split"].tolist() == [expected, expected]


def test_hf_dataset_dict_without_train_and_several_splits(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "dd"
    one = datasets.Dataset.from_dict({"x": [1]})
    datasets.DatasetDict({"dev": one, "test": one}).save_to_disk(str(folder))
    message = error_for(folder)
    assert "'dev'" in message
    assert "'test'" in message
    assert "train" in message


def test_hf_folder_that_is_broken(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "state.json").write_text("{not json")
    assert "save_to_disk" in error_for(folder)


def test_module_import_does_not_import_datasets() -> None:
    code = "import sys, studio_desktop.core.data.io; print('datasets' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "csv"),
        ("a.TSV", "csv"),
        ("a.parquet", "parquet"),
        ("a.Pq", "parquet"),
        ("a.json", "json"),
        ("a.jsonl", "jsonl"),
        ("a.NDJSON", "jsonl"),
    ],
)
def test_describe_file_kind(tmp_path: Path, name: str, kind: str) -> None:
    assert describe_file_kind(tmp_path / name) == kind
    assert Path(name).suffix.lower() in TABLE_SUFFIXES


# --- encodings --------------------------------------------------------------------------------------------


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "bom.csv", b"\xef\xbb\xbfid,text\n1,caf\xc3\xa9\n"))
    assert list(frame.columns) == ["id", "text"]
    assert frame["text"].tolist() == ["café"]
    frame = read_table(write(tmp_path, "bom.json", b'\xef\xbb\xbf[{"id": "1"}]'))
    assert frame["id"].tolist() == ["1"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom(tmp_path: Path, encoding: str) -> None:
    text = "id\ttext\n1\tcafé 😀\n"
    raw = text.encode(encoding) if encoding != "utf-16-be" else b"\xfe\xff" + text.encode(encoding)
    frame = read_table(write(tmp_path, "wide.tsv", raw))
    assert list(frame.columns) == ["id", "text"]
    assert frame["text"].tolist() == ["café 😀"]


def test_utf16_jsonl_with_bom(tmp_path: Path) -> None:
    frame = read_table(write(tmp_path, "wide.jsonl", '{"t": "naïve"}\n'.encode("utf-16")))
    assert frame["t"].tolist() == ["naïve"]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1252", "café"),
        ("cp1252", "Grüße aus Köln, naïve façade — “quoted”"),
        ("cp1251", "Привет, как дела? Это проверка кодировки."),
    ],
)
def test_legacy_encodings_are_detected(tmp_path: Path, encoding: str, text: str) -> None:
    raw = f"id;text\n1;{text}\n2;plain\n".encode(encoding)
    frame = read_table(write(tmp_path, "legacy.csv", raw))
    assert frame["text"].tolist() == [text, "plain"]


def test_undecodable_bytes_name_the_offset(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "bad.csv", b"a,b\n1," + bytes(range(0x80, 0x100)) + b"\n"))
    assert "offset 6" in message
    assert "line 2" in message
    assert "UTF-8" in message


def test_mixed_utf8_and_legacy_bytes_are_refused(tmp_path: Path) -> None:
    raw = "a,b\n1,café\n".encode() + "2,café\n".encode("cp1252")
    message = error_for(write(tmp_path, "mixed.csv", raw))
    assert f"offset {raw.rindex(0xE9)}" in message
    assert "line 3" in message
    assert "UTF-8" in message


# --- bad input --------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in error_for(tmp_path / "nope.csv")


def test_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert "folder" in error_for(folder)


@pytest.mark.parametrize(("name", "shown"), [("sheet.xlsx", "'.xlsx'"), ("README", "no file extension")])
def test_unsupported_extension(tmp_path: Path, name: str, shown: str) -> None:
    message = error_for(write(tmp_path, name, "a,b\n1,2\n"))
    assert shown in message
    assert ".csv" in message
    assert ".jsonl" in message
    with pytest.raises(DataError, match=r"unsupported|no file extension"):
        describe_file_kind(tmp_path / name)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.csv", b""),
        ("blank.csv", b" \n\r\n\t "),
        ("bom-only.csv", b"\xef\xbb\xbf"),
        ("empty.json", b""),
        ("blank.json", b"\n\n"),
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n  \n\n"),
        ("empty.parquet", b""),
    ],
)
def test_empty_files(tmp_path: Path, name: str, content: bytes) -> None:
    message = error_for(write(tmp_path, name, content))
    assert "empty" in message
    assert "no data rows" in message


def test_json_records_without_fields(tmp_path: Path) -> None:
    assert "without fields" in error_for(write(tmp_path, "hollow.json", "[{}, {}]"))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("head.csv", "id,text\n"),
        ("head.csv", "id,text\n\n\n"),
        ("head.json", "[]"),
        ("head.json", '{"data": []}'),
    ],
)
def test_no_data_rows(tmp_path: Path, name: str, content: str) -> None:
    assert "no data rows" in error_for(write(tmp_path, name, content))


def test_parquet_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    pd.DataFrame({"a": pd.Series([], dtype=str)}).to_parquet(path)
    assert "no data rows" in error_for(path)


def test_broken_json_names_line_and_column(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "broken.json", '[\n  {"a": 1},\n  {"a": 2,,}\n]'))
    assert "line 3" in message
    assert "column 11" in message


def test_json_lines_saved_as_json_gets_a_hint(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "lines.json", '{"a": 1}\n{"a": 2}\n'))
    assert "line 2" in message
    assert ".jsonl" in message


@pytest.mark.parametrize(
    ("content", "found"),
    [
        ('"just text"', "a string"),
        ("42", "a number"),
        ('{"a": 1, "b": "x"}', "no list"),
        ('{"train": [], "test": []}', "several lists ('train', 'test')"),
    ],
)
def test_json_top_level_that_is_not_records(tmp_path: Path, content: str, found: str) -> None:
    message = error_for(write(tmp_path, "top.json", content))
    assert found in message


def test_json_element_that_is_not_an_object(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "elem.json", '[\n  {"a": 1},\n  [1, 2],\n  {"a": 3}\n]'))
    assert "element 2" in message
    assert "line 3" in message
    assert "a list" in message


def test_wrapped_json_element_that_is_not_an_object(tmp_path: Path) -> None:
    content = '{\n "meta": {"x": [1]},\n "rows": [\n  {"a": 1},\n  {"a": 2},\n  "oops"\n ]\n}'
    message = error_for(write(tmp_path, "wrapped.json", content))
    assert "element 3 of the 'rows' list" in message
    assert "line 6" in message
    assert "a string" in message


def test_invalid_jsonl_line_counts_blank_lines(tmp_path: Path) -> None:
    content = '{"a": 1}\n\n{"a": 2}\n{"a": 3\n{"a": 4}\n'
    message = error_for(write(tmp_path, "bad.jsonl", content))
    assert "line 4" in message
    assert "Expecting" in message


@pytest.mark.parametrize(("line", "found"), [("[1, 2]", "a list"), ("null", "null"), ('"x"', "a string")])
def test_jsonl_line_that_is_not_an_object(tmp_path: Path, line: str, found: str) -> None:
    message = error_for(write(tmp_path, "bad.jsonl", '{"a": 1}\n' + line + "\n"))
    assert "line 2" in message
    assert found in message


def test_json_array_saved_as_jsonl_gets_a_hint(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "array.jsonl", '[\n  {"a": 1}\n]\n'))
    assert "line 1" in message
    assert ".json" in message


@pytest.mark.parametrize(
    ("name", "content", "hint"),
    [
        ("noise.csv", bytes(range(256)) * 4, ""),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "PNG"),
        ("sheet.csv", b"PK\x03\x04\x14\x00\x06\x00" + bytes(100), "zip"),
        ("wide.jsonl", '{"a": 1}\n'.encode("utf-16-le"), "UTF-16"),
    ],
)
def test_binary_files_are_refused(tmp_path: Path, name: str, content: bytes, hint: str) -> None:
    message = error_for(write(tmp_path, name, content))
    assert "does not look like a text file" in message
    assert hint in message


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    content = bytes((i * 7919 + 13) % 251 + 1 for i in range(4096))  # no NUL byte
    assert "does not look like a text file" in error_for(write(tmp_path, "rand.json", content))


@pytest.mark.parametrize("content", [b"PAR1 this is not really parquet PAR1", b"garbage"])
def test_corrupt_parquet(tmp_path: Path, content: bytes) -> None:
    assert "Parquet" in error_for(write(tmp_path, "bad.parquet", content))


def test_truncated_parquet(tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"a": list(range(1000))}), whole)
    cut = write(tmp_path, "cut.parquet", whole.read_bytes()[:-100])
    assert "Parquet" in error_for(cut)


@pytest.mark.parametrize(
    ("name", "content", "duplicate"),
    [
        ("dup.csv", "a,b,a\n1,2,3\n", "'a'"),
        ("dup.csv", "text , text,id\n1,2,3\n", "'text'"),
        ("dup.json", '[{"a": 1, " a": 2}]', "'a'"),
    ],
)
def test_duplicate_column_names(tmp_path: Path, name: str, content: str, duplicate: str) -> None:
    message = error_for(write(tmp_path, name, content))
    assert "duplicate" in message
    assert duplicate in message


def test_duplicate_column_names_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"]), path)
    assert "'x'" in error_for(path)


@pytest.mark.parametrize(
    ("content", "shown"), [("a,,c\n1,2,3\n", "column 2 has"), ("a, ,c,\n1,2,3,4\n", "columns 2, 4 have")]
)
def test_blank_column_name(tmp_path: Path, content: str, shown: str) -> None:
    message = error_for(write(tmp_path, "blank.csv", content))
    assert shown in message
    assert "no name" in message


@pytest.mark.parametrize(
    ("content", "row", "line"),
    [
        ("a,b\n1,2\n3,4,5\n", 2, 3),
        ("a,b\n1,2,3\n4,5\n", 1, 2),
        ("\na,b\n1,2\n\n   \n3,4,5\n", 2, 6),
        ('a,b\n"multi\nline",2\n3,4\n5,6,7\n', 3, 5),
    ],
)
def test_row_with_too_many_fields(tmp_path: Path, content: str, row: int, line: int) -> None:
    message = error_for(write(tmp_path, "ragged.csv", content))
    assert f"row {row}, line {line}" in message
    assert "3 fields" in message
    assert "comma" in message


def test_unclosed_quote(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "quote.csv", 'a,b\n1,2\n\n3,"never closed\n4,5\n'))
    assert "row 2, line 4" in message
    assert "quote" in message
