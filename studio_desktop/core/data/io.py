"""Read a user's data file (CSV/TSV, Parquet, JSON, JSONL or a ``save_to_disk`` folder) into a DataFrame.

Every problem with the input is raised as :class:`DataError` naming the file and, where it applies, the
line, row or column, and saying what to do about it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from studio_desktop.core.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson")

_KIND_BY_SUFFIX = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
_KIND_BY_SUFFIX.update({".jsonl": "jsonl", ".ndjson": "jsonl"})
_HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ASCII_LETTERS = re.compile(r"[A-Za-z]")
_WESTERN_PUNCTUATION = frozenset("€‘’‚“”„–—…«»‹›°·•×÷¡¿£¥¢§©®™±µ¶\u00a0")
_MAX_ACCENTED_SHARE = 0.3
_SAMPLE_CHARS = 64 * 1024
_BINARY_PROBE_BYTES = 1024
_MAX_CONTROL_SHARE = 0.05
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_SIGNATURES = {
    b"PK\x03\x04": "a zip archive (an .xlsx workbook is one): export the sheet as CSV UTF-8",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive: decompress it first",
    b"PAR1": "a Parquet file: give it the .parquet extension",
}
# Among legacy encodings that decode a sample about equally well, the most common ones win.
_PREFERRED_LEGACY = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1257", "latin_1")
_CHAOS_MARGIN = 0.05
_RESAVE_HINT = "re-save it as UTF-8"
_CHOOSE = "choose a CSV, TSV, Parquet, JSON or JSONL file, or a folder written by datasets' save_to_disk"


def describe_file_kind(path: str | Path) -> str:
    """Return "csv", "parquet", "json", "jsonl" or "hf-disk" for ``path``; raise DataError if unsupported."""
    file = Path(path)
    if file.is_dir():
        if any((file / marker).is_file() for marker in _HF_MARKERS):
            return "hf-disk"
        raise DataError(f"is a folder but not one written by datasets' save_to_disk; {_CHOOSE}", file=file)
    suffix = file.suffix.lower()
    if suffix in _KIND_BY_SUFFIX:
        return _KIND_BY_SUFFIX[suffix]
    found = f"the unsupported extension '{file.suffix}'" if file.suffix else "no file extension"
    raise DataError(f"has {found}; supported: {', '.join(SUPPORTED_SUFFIXES)}; {_CHOOSE}", file=file)


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
        raise DataError(f"is not a regular file; {_CHOOSE}", file=file)
    if kind == "parquet":
        return _read_parquet(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        reason = f"could not be read ({exc.strerror or _first_line(exc)}); check its permissions"
        raise DataError(reason, file=file) from exc
    text, encoding = _decode_text(raw, file)
    if not text or text.isspace():
        raise _no_data_rows(file, "the file is empty")
    if kind == "json":
        return _read_json(text, file)
    if kind == "jsonl":
        return _read_jsonl(text, file)
    payload = raw.removeprefix(_BOMS[0][0]) if encoding == "utf-8" else text.encode("utf-8")
    return _read_delimited(payload, text, file)


def _no_data_rows(file: Path, detail: str) -> DataError:
    return DataError(f"has no data rows ({detail}); add at least one row", file=file)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0] or type(exc).__name__


def _decode_text(raw: bytes, file: Path) -> tuple[str, str]:
    """Decode ``raw`` without its BOM; return the text and the encoding ("legacy" if it was detected)."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise _undecodable(raw, len(bom) + exc.start, file, f"is not valid {encoding}") from exc
            if _looks_binary([ord(char) for char in text[:_BINARY_PROBE_BYTES]]):
                raise DataError(f"does not look like a text file; {_RESAVE_HINT}", file=file)
            return text, encoding
    _reject_binary(raw[:_BINARY_PROBE_BYTES], file)
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        return _decode_legacy(raw, exc.start, file), "legacy"


def _looks_binary(codes: Sequence[int]) -> bool:
    if 0 in codes:
        return True
    controls = sum(1 for code in codes if (code < 32 and code not in _TEXT_CONTROLS) or code == 127)
    return controls > len(codes) * _MAX_CONTROL_SHARE


def _reject_binary(head: bytes, file: Path) -> None:
    kind = next((what for magic, what in _SIGNATURES.items() if head.startswith(magic)), None)
    if kind is None and not _looks_binary(head):
        return
    if kind is None and head.count(0) > len(head) // 4 and (not any(head[0::2]) or not any(head[1::2])):
        kind = f"UTF-16 text without a byte-order mark: {_RESAVE_HINT}"
    found = f" (it looks like {kind})" if kind else ""
    raise DataError(f"does not look like a text file{found}; {_CHOOSE}", file=file)


def _decode_legacy(raw: bytes, bad: int, file: Path) -> str:
    """Decode a file that is not UTF-8, detecting its encoding on the lines around the first bad byte."""
    from charset_normalizer import from_bytes

    if not raw[:bad].isascii():
        raise _undecodable(raw, bad, file, "mixes UTF-8 with another encoding")
    western = _decode_western(raw)
    if western is not None:
        return western
    start = raw.rfind(b"\n", 0, max(0, bad - _SAMPLE_CHARS // 2)) + 1
    end = raw.find(b"\n", bad + _SAMPLE_CHARS // 2)
    matches = from_bytes(raw[start : end if end >= 0 else len(raw)])
    if (best := matches.best()) is not None:
        close = {match.encoding for match in matches if match.chaos <= best.chaos + _CHAOS_MARGIN}
        try:
            return raw.decode(next((name for name in _PREFERRED_LEGACY if name in close), best.encoding))
        except (UnicodeDecodeError, LookupError):
            pass
    raise _undecodable(raw, bad, file, "is not valid UTF-8 and its encoding could not be detected")


def _decode_western(raw: bytes) -> str | None:
    """The text as Windows-1252 when that reads like Western European writing, else None.

    Accented letters must be a minority of the letters and every other non-ASCII character common punctuation;
    Cyrillic or Greek code pages decode as cp1252 too, but then nearly every letter is non-ASCII.
    """
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return None
    extra = _NON_ASCII.findall(text)
    accented = sum(1 for char in extra if char.isalpha())
    if accented + sum(1 for char in extra if char in _WESTERN_PUNCTUATION) != len(extra):
        return None
    ascii_letters = len(_ASCII_LETTERS.findall(text))
    return text if accented <= _MAX_ACCENTED_SHARE * (accented + ascii_letters) else None


def _undecodable(raw: bytes, offset: int, file: Path, problem: str) -> DataError:
    byte = f"0x{raw[offset]:02X} " if offset < len(raw) else ""
    return DataError(
        f"{problem} (first invalid byte {byte}at byte offset {offset}); {_RESAVE_HINT}",
        file=file,
        line=raw.count(b"\n", 0, offset) + 1,
    )


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
