"""The file name endings the importer reads: tables (and ``save_to_disk`` folders) and raw text."""

from __future__ import annotations

TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson")
TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".markdown")
