"""Decoding the bytes of a text data file: byte-order marks, UTF-8, legacy code pages, binary files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from studio_desktop.core.errors import DataError

RESAVE_HINT = "re-save it as UTF-8"
CHOOSE_HINT = "choose a CSV, TSV, Parquet, JSON or JSONL file, or a folder written by datasets' save_to_disk"

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


def decode_text(raw: bytes, file: Path) -> tuple[str, str]:
    """Decode ``raw`` without its BOM; return the text and the encoding ("legacy" if it was detected)."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise _undecodable(raw, len(bom) + exc.start, file, f"is not valid {encoding}") from exc
            if _looks_binary([ord(char) for char in text[:_BINARY_PROBE_BYTES]]):
                raise DataError(f"does not look like a text file; {RESAVE_HINT}", file=file)
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
        kind = f"UTF-16 text without a byte-order mark: {RESAVE_HINT}"
    found = f" (it looks like {kind})" if kind else ""
    raise DataError(f"does not look like a text file{found}; {CHOOSE_HINT}", file=file)


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
        f"{problem} (first invalid byte {byte}at byte offset {offset}); {RESAVE_HINT}",
        file=file,
        line=raw.count(b"\n", 0, offset) + 1,
    )
