"""Raw text for continued pretraining: documents from ``.txt``/``.md`` files, a folder of them, or one text
column of a table, stored as Parquet beside the conversation datasets (``document_id``, ``text``, ``source``).

A file is one document; a folder gives one per text file in it (sub-folders included, in path order, links
not followed); a table one per non-blank cell of its text column. Blank documents are skipped and counted.
"""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from studio_desktop.core.data.conversations import Conversation
from studio_desktop.core.data.flat import check_text_cells, text_array
from studio_desktop.core.data.suffixes import TABLE_SUFFIXES, TEXT_SUFFIXES
from studio_desktop.core.data.text_decoding import decode_text
from studio_desktop.core.errors import DataError

TEXT_FORMAT = "text"  # the format (and dataset kind) of raw text
TEXT_COLUMN_NAMES = ("text", "content", "document", "body", "raw_text")
#: The longest document a file may hold: about 5 million tokens; a longer one is refused, naming the file.
MAX_DOCUMENT_CHARS = 20_000_000


@dataclass(frozen=True, slots=True)
class Document:
    """One raw text; ``source`` names where it came from (a file inside the import, or ``row N``)."""

    document_id: str
    text: str
    source: str


@dataclass(frozen=True)
class Documents:
    """The documents read from a source, and how many blank ones were left out."""

    documents: list[Document]
    skipped_blank: int = 0


def is_text_source(path: Path) -> bool:
    """Whether ``path`` is a ``.txt``/``.md`` file, or a folder holding such files and no table files."""
    if path.is_file():
        return path.suffix.lower() in TEXT_SUFFIXES
    if not path.is_dir():
        return False
    files = _plain_files(path)
    return any(_is_text(f) for f in files) and not any(f.suffix.lower() in TABLE_SUFFIXES for f in files)


def text_files(path: Path) -> list[Path]:
    """The text file ``path``, or the text files in the folder ``path`` in path order."""
    return [path] if path.is_file() else sorted(f for f in _plain_files(path) if _is_text(f))


def read_text_files(path: Path, limit: int | None = None) -> Documents:
    """The documents of a text file or a folder of them, of its first ``limit`` files only when given
    (``DataError`` naming the file for one that cannot be read, is not text or is too long; for a folder
    without text files)."""
    files = text_files(path)[:limit]
    if not files:
        raise DataError("holds no .txt or .md files to import as raw text", file=path)
    documents, skipped = [], 0
    for file in files:
        name = file.name if file == path else file.relative_to(path).as_posix()
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise DataError(f"could not be read ({exc.strerror or exc})", file=file) from exc
        text = decode_text(raw, file)[0]
        if len(text) > MAX_DOCUMENT_CHARS:
            raise DataError(
                f"holds {len(text):,} characters, more than the {MAX_DOCUMENT_CHARS:,} a document may have; "
                "split it into several files",
                file=file,
            )
        if not text.strip():
            skipped += 1
            continue
        documents.append(Document(str(len(documents) + 1), text, name))
    if not documents:
        raise DataError("holds only empty text files", file=path)
    return Documents(documents, skipped)


def guess_text_column(df: pd.DataFrame) -> str | None:
    """The column that holds the text: one with a usual name, else the only column."""
    by_name = {str(column).strip().lower(): column for column in df.columns}
    found = next((by_name[name] for name in TEXT_COLUMN_NAMES if name in by_name), None)
    if found is None and len(df.columns) == 1:
        found = df.columns[0]
    return None if found is None else str(found)


def read_text_column(df: pd.DataFrame, column: str | None, file: Path) -> Documents:
    """One document per non-blank cell of ``column`` (guessed when None), named by its 1-based row."""
    column = column or guess_text_column(df)
    if column is None:
        columns = ", ".join(f"'{c}'" for c in df.columns) or "none"
        raise DataError(
            f"cannot tell which column holds the text (columns found: {columns}); pass --text-column",
            file=file,
        )
    if column not in df.columns:
        raise DataError(f"the text column '{column}' is not in the file", file=file, field=column)
    check_text_cells(df[column], column, file)
    texts = text_array(df[column]).to_pylist()
    documents = [
        Document(str(row), text, f"row {row}") for row, text in enumerate(texts, start=1) if text.strip()
    ]
    for document in documents:
        if len(document.text) > MAX_DOCUMENT_CHARS:
            raise DataError(
                f"holds {len(document.text):,} characters, more than the {MAX_DOCUMENT_CHARS:,} a document "
                "may have",
                file=file,
                row=int(document.document_id),
                field=column,
            )
    if not documents:
        raise DataError("the text column holds no text", file=file, field=column)
    return Documents(documents, len(texts) - len(documents))


def conversation_text(conversation: Conversation) -> Document:
    """A conversation as one plain text: system prompt and turns, one paragraph each."""
    parts = [conversation.system, *(message.content for message in conversation.messages)]
    text = "\n\n".join(part for part in parts if part.strip())
    return Document(conversation.conversation_id, text, f"row {conversation.source_row}")


def split_documents(
    documents: Sequence[Document], validation_size: float, seed: int, file: str | Path | None = None
) -> tuple[list[Document], list[Document]]:
    """About ``validation_size`` of the documents, drawn at random with ``seed``, held out for validation
    (at least one each); both parts keep the input order."""
    if len(documents) < 2:
        raise DataError(
            f"holds {len(documents)} document, too few for a validation split; give a validation file "
            "or more documents",
            file=file,
        )
    count = min(len(documents) - 1, max(1, round(len(documents) * validation_size)))
    held = set(random.Random(seed).sample(range(len(documents)), count))
    train = [d for i, d in enumerate(documents) if i not in held]
    return train, [d for i, d in enumerate(documents) if i in held]


def documents_table(documents: Sequence[Document]) -> Any:
    """Documents as an Arrow table."""
    import pyarrow as pa

    return pa.table(
        {
            "document_id": [d.document_id for d in documents],
            "text": [d.text for d in documents],
            "source": [d.source for d in documents],
        },
        schema=pa.schema([("document_id", pa.string()), ("text", pa.string()), ("source", pa.string())]),
    )


def write_documents(documents: Sequence[Document], path: Path) -> None:
    """Write documents to a Parquet file."""
    import pyarrow.parquet as pq

    pq.write_table(documents_table(documents), path)


def read_documents(path: Path) -> list[Document]:
    """The documents of a Parquet file written by ``write_documents``."""
    import pyarrow.parquet as pq

    data = pq.read_table(path).to_pydict()
    return [
        Document(i, t, s) for i, t, s in zip(data["document_id"], data["text"], data["source"], strict=True)
    ]


def _is_text(file: Path) -> bool:
    return file.suffix.lower() in TEXT_SUFFIXES


def _plain_files(folder: Path) -> list[Path]:
    """Every plain file under ``folder``, links and special files left out."""
    found = []
    for root, names, files in os.walk(folder):
        names[:] = sorted(n for n in names if not os.path.islink(os.path.join(root, n)))
        for name in files:
            path = Path(root) / name
            if stat.S_ISREG(os.lstat(path).st_mode):
                found.append(path)
    return found
