"""Read a user's data file (CSV/TSV, Parquet, JSON, JSONL or a ``save_to_disk`` folder) into a DataFrame.

Every problem with the input is raised as :class:`DataError` naming the file and, where it applies, the
line, row or column, and saying what to do about it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from studio_desktop.core.data.suffixes import TABLE_SUFFIXES
from studio_desktop.core.data.text_decoding import CHOOSE_HINT, decode_text
from studio_desktop.core.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa


_KIND_BY_SUFFIX = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
_KIND_BY_SUFFIX.update({".jsonl": "jsonl", ".ndjson": "jsonl"})
_HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_SAMPLE_CHARS = 64 * 1024


def describe_file_kind(path: str | Path) -> str:
    """Return "csv", "parquet", "json", "jsonl" or "hf-disk" for ``path``; raise DataError if unsupported."""
    file = Path(path)
    if file.is_dir():
        if any((file / marker).is_file() for marker in _HF_MARKERS):
            return "hf-disk"
        raise DataError(
            f"is a folder but not one written by datasets' save_to_disk; {CHOOSE_HINT}", file=file
        )
    suffix = file.suffix.lower()
    if suffix in _KIND_BY_SUFFIX:
        return _KIND_BY_SUFFIX[suffix]
    found = f"the unsupported extension '{file.suffix}'" if file.suffix else "no file extension"
    raise DataError(f"has {found}; supported: {', '.join(TABLE_SUFFIXES)}; {CHOOSE_HINT}", file=file)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a data file or ``save_to_disk`` folder into a DataFrame with a fresh RangeIndex.

    Column names are stripped of surrounding whitespace and must be unique and non-blank. CSV/TSV cells
    are always strings, exactly as written: an empty cell (e.g. a root row's ``parent_id``) is ``""``,
    never NaN, and a row with fewer fields than the header is padded with ``""``. Nested JSON, JSONL,
    Parquet and dataset values (lists of dicts such as ``messages``) arrive as Python lists and dicts.
    """
    file = Path(path)
    if not file.exists():
        raise DataError("file not found; check the path or choose the file again", file=file)
    kind = describe_file_kind(file)
    if kind == "hf-disk":
        return _read_hf_disk(file)
    if not file.is_file():
        raise DataError(f"is not a regular file; {CHOOSE_HINT}", file=file)
    if kind == "parquet":
        return _read_parquet(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        reason = f"could not be read ({exc.strerror or _first_line(exc)}); check its permissions"
        raise DataError(reason, file=file) from exc
    text, encoding = decode_text(raw, file)
    if not text or text.isspace():
        raise _no_data_rows(file, "the file is empty")
    if kind == "json":
        return _read_json(text, file)
    if kind == "jsonl":
        return _read_jsonl(text, file)
    payload = raw.removeprefix(codecs.BOM_UTF8) if encoding == "utf-8" else text.encode("utf-8")
    return _read_delimited(payload, text, file)


def _no_data_rows(file: Path, detail: str) -> DataError:
    return DataError(f"has no data rows ({detail}); add at least one row", file=file)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0] or type(exc).__name__


def _clean_column_names(names: Iterable[object], file: Path) -> list[str]:
    """Strip the names; raise if any is blank or if two are the same."""
    cleaned = [str(name).strip() for name in names]
    blank = [str(position) for position, name in enumerate(cleaned, start=1) if not name]
    if blank:
        which = f"column {blank[0]} has" if len(blank) == 1 else f"columns {', '.join(blank)} have"
        raise DataError(f"{which} no name in the header; name every column or delete it", file=file)
    repeated = [name for name, count in Counter(cleaned).items() if count > 1]
    if repeated:
        listed = ", ".join(f"'{name}'" for name in repeated)
        raise DataError(f"has duplicate column name(s) {listed}; rename them", file=file, field=repeated[0])
    return cleaned


def _read_delimited(payload: bytes, text: str, file: Path) -> pd.DataFrame:
    preference = ("\t", ",", ";", "|") if file.suffix.lower() == ".tsv" else (",", "\t", ";", "|")
    delimiter = _sniff_delimiter(text, preference)
    options: dict[str, Any] = {"sep": delimiter, "header": None, "na_filter": False, "low_memory": False}
    try:
        # The header row makes pandas infer every column as text, which is much faster than
        # dtype=str; a numeric-looking header defeats that, so fall back to dtype=str then.
        cells = pd.read_csv(io.BytesIO(payload), **options)
        if not all(isinstance(dtype, pd.StringDtype) for dtype in cells.dtypes):
            cells = pd.read_csv(io.BytesIO(payload), dtype=str, **options)
    except pd.errors.ParserError as exc:
        raise _translate_parser_error(exc, text, delimiter, file) from exc
    except ValueError as exc:
        raise DataError(f"could not be read as delimited text ({_first_line(exc)})", file=file) from exc
    names = _clean_column_names(cells.iloc[0].tolist(), file)
    frame = cells.iloc[1:].reset_index(drop=True)
    frame.columns = names
    if frame.empty:
        raise _no_data_rows(file, "only a header")
    return frame


def _sniff_delimiter(text: str, preference: Sequence[str]) -> str:
    """Pick the delimiter that splits the leading records into equal field counts; ties go to the first."""
    sample, truncated = text[:_SAMPLE_CHARS], len(text) > _SAMPLE_CHARS
    if truncated and (cut := sample.rfind("\n")) > 0:
        sample = sample[: cut + 1]
    even = [delimiter for delimiter in preference if _splits_evenly(sample, delimiter, truncated)]
    if even:
        return even[0]
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(preference)).delimiter
    except csv.Error:
        return preference[0]


def _splits_evenly(sample: str, delimiter: str, truncated: bool) -> bool:
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    try:
        counts = [len(record) for record in reader if not _is_blank(record)]
    except csv.Error:
        return False
    if truncated and len(counts) > 1:
        counts.pop()  # the last record may have been cut short
    return len(set(counts)) == 1 and counts[0] > 1


def _is_blank(record: list[str]) -> bool:
    return not record or (len(record) == 1 and not record[0].strip())


def _translate_parser_error(exc: Exception, text: str, delimiter: str, file: Path) -> DataError:
    """Turn pandas' record count (blank lines included, header first) into a data row and a line."""
    message = str(exc)
    if match := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message):
        expected, record, seen = (int(group) for group in match.groups())
        row, line = _locate_record(text, delimiter, record)
        return DataError(
            f"has {seen} fields but the header has {expected}; quote values that contain the "
            f"{_DELIMITER_NAMES.get(delimiter, repr(delimiter))} delimiter or remove the extra fields",
            file=file,
            row=row,
            line=line,
        )
    if match := re.search(r"EOF inside string starting at row (\d+)", message):
        row, line = _locate_record(text, delimiter, int(match.group(1)) + 1)
        return DataError(
            'has a quoted value that is never closed; add the closing "', file=file, row=row, line=line
        )
    return DataError(f"could not be parsed as delimited text ({_first_line(exc)})", file=file)


def _locate_record(text: str, delimiter: str, record_number: int) -> tuple[int, int]:
    """Return the 1-based data row and first line of the ``record_number``-th record (blank ones count)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows_before = 0  # non-blank records before the target, header included
    for _ in range(record_number - 1):
        try:
            record = next(reader)
        except (csv.Error, StopIteration):
            break
        if not _is_blank(record):
            rows_before += 1
    return rows_before, reader.line_num + 1


def _read_json(text: str, file: Path) -> pd.DataFrame:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        lines_hint = exc.msg == "Extra data" and text.lstrip().startswith("{")
        hint = "it looks like JSON Lines: rename it to .jsonl" if lines_hint else "fix the JSON there"
        raise DataError(
            f"is not valid JSON: {exc.msg} at column {exc.colno}; {hint}", file=file, line=exc.lineno
        ) from exc
    key, records = _json_records(document, file)
    if not records:
        raise _no_data_rows(file, "the list of records is empty")
    where = f"the '{key}' list" if key is not None else "the list"
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(
                f"element {index + 1} of {where} is {_describe_json(record)}, not an object; "
                'every record must be an object such as {"column": "value"}',
                file=file,
                line=_json_element_line(text, key, index),
            )
    return _frame_from_records(records, file)


def _json_records(document: object, file: Path) -> tuple[str | None, list[Any]]:
    """Return the list of records and, for ``{"data": [...]}``, the key that holds it."""
    if isinstance(document, list):
        return None, document
    expected = 'expected a list of objects, or an object holding one such list like {"data": [...]}'
    if not isinstance(document, dict):
        raise DataError(f"top level is {_describe_json(document)}; {expected}", file=file)
    lists = [key for key, value in document.items() if isinstance(value, list)]
    if len(lists) == 1:
        return lists[0], document[lists[0]]
    keys = ", ".join(f"'{key}'" for key in (lists or list(document)))
    found = f"several lists ({keys})" if lists else f"no list (keys: {keys or 'none'})"
    raise DataError(f"top level is an object holding {found}; {expected}", file=file)


def _describe_json(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _json_element_line(text: str, key: str | None, index: int) -> int | None:
    """Find the line where element ``index`` of the records list starts; only used to report errors."""
    decoder = json.JSONDecoder()

    def skip(position: int) -> int:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        return position

    try:
        position = skip(0)
        if key is not None:
            position = skip(position + 1)  # past "{"
            while True:
                name, position = decoder.raw_decode(text, position)
                position = skip(skip(position) + 1)  # past ":"
                if name == key:
                    break
                _, position = decoder.raw_decode(text, position)
                position = skip(skip(position) + 1)  # past ","
        position = skip(position + 1)  # past "["
        for _ in range(index):
            _, position = decoder.raw_decode(text, position)
            position = skip(skip(position) + 1)  # past ","
    except (ValueError, IndexError):
        return None
    return text.count("\n", 0, position) + 1


def _read_jsonl(text: str, file: Path) -> pd.DataFrame:
    looks_like_array = text.lstrip().startswith("[")
    hint = "one JSON object per line" + ("; a JSON array belongs in a .json file" if looks_like_array else "")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"is not valid JSON: {exc.msg} at column {exc.colno}; write {hint}"
            raise DataError(reason, file=file, line=number) from exc
        if not isinstance(record, dict):
            raise DataError(
                f"holds {_describe_json(record)}, not an object; write {hint}", file=file, line=number
            )
        records.append(record)
    if not records:
        raise _no_data_rows(file, "no JSON objects")
    return _frame_from_records(records, file)


def _frame_from_records(records: list[dict[str, Any]], file: Path) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    if frame.columns.empty:
        raise DataError('has records without fields; every record needs at least one "key": value', file=file)
    frame.columns = _clean_column_names(frame.columns, file)
    return frame


def _read_parquet(file: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if file.stat().st_size == 0:
        raise _no_data_rows(file, "the file is empty")
    try:
        with pq.ParquetFile(file) as parquet:
            table = parquet.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = f"is not a readable Parquet file ({_first_line(exc)}); export it again"
        raise DataError(reason, file=file) from exc
    return _frame_from_arrow(table, file)


def _frame_from_arrow(table: pa.Table, file: Path) -> pd.DataFrame:
    """Convert to pandas, turning nested columns into Python lists/dicts instead of NumPy arrays."""
    import pyarrow as pa

    _clean_column_names(table.column_names, file)
    if table.num_rows == 0:
        raise _no_data_rows(file, "the table has no rows")
    nested = [field.name for field in table.schema if pa.types.is_nested(field.type)]
    frame = table.drop_columns(nested).to_pandas()
    for name in nested:
        frame[name] = pd.Series(table.column(name).to_pylist(), index=frame.index, dtype=object)
    frame = frame[[name for name in table.column_names if name in frame.columns]]
    frame = frame.reset_index(drop=all(name is None for name in frame.index.names))
    frame.columns = _clean_column_names(frame.columns, file)
    return frame


def _read_hf_disk(folder: Path) -> pd.DataFrame:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(folder))
    except Exception as exc:  # datasets reports broken folders with many exception types
        reason = f"is not a readable save_to_disk folder ({_first_line(exc)}); save it again"
        raise DataError(reason, file=folder) from exc
    if isinstance(loaded, datasets.DatasetDict):
        if "train" in loaded:
            loaded = loaded["train"]
        elif len(loaded) == 1:
            loaded = next(iter(loaded.values()))
        else:
            splits = ", ".join(f"'{name}'" for name in loaded) or "none"
            raise DataError(f"has splits {splits} but no 'train'; choose one split's folder", file=folder)
    if len(loaded) == 0:
        raise _no_data_rows(folder, "the dataset has no rows")
    return _frame_from_arrow(loaded.with_format("arrow")[:], folder)
