"""Conversations on disk: one Parquet file per split, nested messages kept as a list of structs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from studio_desktop.core.data.conversations import Conversation, Message


def _schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("conversation_id", pa.string()),
            ("tree_id", pa.string()),
            ("system", pa.string()),
            ("messages", pa.list_(message)),
            ("source_row", pa.int64()),
            ("rejected_answer", pa.string()),
        ]
    )


def write_conversations(conversations: Sequence[Conversation], path: Path) -> None:
    """Write conversations to a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {
        "conversation_id": [c.conversation_id for c in conversations],
        "tree_id": [c.tree_id for c in conversations],
        "system": [c.system for c in conversations],
        "messages": [[{"role": m.role, "content": m.content} for m in c.messages] for c in conversations],
        "source_row": [c.source_row for c in conversations],
        "rejected_answer": [c.rejected_answer for c in conversations],
    }
    pq.write_table(pa.table(columns, schema=_schema()), path)


def read_conversations(path: Path) -> list[Conversation]:
    """Read conversations written by ``write_conversations``."""
    import pyarrow.parquet as pq

    data = pq.read_table(path, schema=_schema()).to_pydict()
    return [
        Conversation(
            conversation_id=cid,
            tree_id=tree,
            system=system,
            messages=tuple(Message(role=m["role"], content=m["content"]) for m in messages),
            source_row=row,
            rejected_answer=rejected,
        )
        for cid, tree, system, messages, row, rejected in zip(
            data["conversation_id"],
            data["tree_id"],
            data["system"],
            data["messages"],
            data["source_row"],
            data["rejected_answer"],
            strict=True,
        )
    ]
