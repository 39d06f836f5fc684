"""Helpers of the import dialog: dropped paths, dataset names, and a preview of the column mapping."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
from PySide6.QtCore import QMimeData

from studio_desktop.core.data.documents import (
    TEXT_FORMAT,
    is_text_source,
    read_text_column,
    read_text_files,
)
from studio_desktop.core.data.formats import ColumnMapping, to_conversations
from studio_desktop.core.data.mapping_guess import guess_mapping
from studio_desktop.core.data.suffixes import TABLE_SUFFIXES, TEXT_SUFFIXES
from studio_desktop.core.errors import StudioError
from studio_desktop.jobs.catalog import Catalog

DATA_SUFFIXES = (*TABLE_SUFFIXES, *TEXT_SUFFIXES)
PREVIEW_CONVERSATIONS = 2
PREVIEW_CHARS = 600
FORMATS = (
    ("Detect automatically", None),
    ("Alpaca (instruction, input, output)", "alpaca"),
    ("ShareGPT (conversations: from/value)", "sharegpt"),
    ("Messages (messages: role/content)", "messages"),
    ("Prompt and answer columns", "prompt_answer"),
    ("Raw text, one document per row (continued pretraining)", TEXT_FORMAT),
)
COLUMN_FIELDS = {
    "prompt_column": ("Prompt", "Column with the user prompt."),
    "answer_column": ("Answer", "Column with the answer the model learns to give."),
    "system_column": ("System", "Column with the system prompt (optional)."),
    "conversation_column": ("Conversation", "Column holding whole conversations (ShareGPT/messages)."),
    "id_column": ("ID", "Column with row ids, for multi-turn chains (optional)."),
    "parent_id_column": ("Parent ID", "Column with the parent row's id, for multi-turn chains (optional)."),
    "rejected_answer_column": ("Rejected answer", "Column with the rejected answer of preference data."),
    "rejected_prompt_column": (
        "Rejected prompt",
        "Column with the question the rejected answer was given to, where it differs from the prompt "
        "(optional; blank cells take the prompt). Only KTOLoss trains such pairs.",
    ),
    "desirability_column": (
        "Desirability",
        "Column rating each answer good (true/1) or bad (false/0): unpaired preference data for KTO.",
    ),
    "text_column": ("Text", "Column with raw text, one document per row (raw text format)."),
}
ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant"}


def preview_mapping(head: pd.DataFrame, source: Path, overrides: dict[str, Any]) -> ColumnMapping:
    """The detected mapping of ``head`` with the hand-set fields on top (hand-set alone if nothing fits)."""
    try:
        detected = guess_mapping(head, source).to_dict()
    except StudioError:
        detected = {"format": "prompt_answer"}
    return ColumnMapping.from_dict({**detected, **overrides})


def preview_html(head: pd.DataFrame, source: Path, overrides: dict[str, Any]) -> str:
    """The first conversations of ``head`` under the mapping (of raw text: its first documents), or the
    problem (file, row, field) in red."""
    if head.empty:
        return ""
    if is_text_source(source) or overrides.get("format") == TEXT_FORMAT:
        return _documents_html(head, source, overrides)
    try:
        conversations = to_conversations(head, preview_mapping(head, source, overrides), source)
    except StudioError as err:
        return f'<p style="color:#b00020">{html.escape(str(err))}</p>'
    parts = []
    for conversation in conversations[:PREVIEW_CONVERSATIONS]:
        turns = ([("system", conversation.system)] if conversation.system else []) + [
            (message.role, message.content) for message in conversation.messages
        ]
        lines = [f"<b>{ROLE_NAMES[role]}:</b> {html.escape(text)}" for role, text in turns]
        parts.append("<p>" + "<br>".join(lines) + "</p>")
    return "<hr>".join(parts)


def _documents_html(head: pd.DataFrame, source: Path, overrides: dict[str, Any]) -> str:
    try:
        documents = (
            read_text_files(source, limit=PREVIEW_CONVERSATIONS).documents
            if is_text_source(source)
            else read_text_column(head, overrides.get("text_column"), source).documents
        )
    except StudioError as err:
        return f'<p style="color:#b00020">{html.escape(str(err))}</p>'
    parts = [
        f"<p><b>{html.escape(d.source)}:</b> {html.escape(d.text[:PREVIEW_CHARS])}</p>"
        for d in documents[:PREVIEW_CONVERSATIONS]
    ]
    return "<hr>".join(parts)


def dropped_data_path(mime: QMimeData) -> str | None:
    """The one local data file or folder that a drag carries, else None."""
    urls = mime.urls() if mime.hasUrls() else []
    if len(urls) != 1 or not urls[0].isLocalFile():
        return None
    path = Path(urls[0].toLocalFile())
    return str(path) if path.is_dir() or path.suffix.lower() in DATA_SUFFIXES else None


def absolute(path: str) -> str:
    """``path`` with ``~`` expanded, made absolute (the child process may run elsewhere)."""
    return str(Path(path.strip()).expanduser().absolute())


def name_from_path(path: Path, catalog: Catalog) -> str:
    """A new dataset name derived from the file name, numbered when the name is taken."""
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in path.stem).strip("-._")
    base = stem[:90] or "dataset"
    name, number = base, 2
    while catalog.has_dataset(name):
        name, number = f"{base}-{number}", number + 1
    return name
