"""Conversations on disk: one Parquet file per split, nested messages kept as a list of structs.

The same layout as an Arrow table is what the import works on: ``flat_table`` builds it column by column
from prompt and answer columns, without a Python object per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from studio_desktop.core.data.conversations import Conversation, Message

if TYPE_CHECKING:
    import pyarrow as pa

    from studio_desktop.core.data.flat import FlatColumns


def _message_type():
    import pyarrow as pa

    return pa.struct([("role", pa.string()), ("content", pa.string())])


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("conversation_id", pa.string()),
            ("tree_id", pa.string()),
            ("system", pa.string()),
            ("messages", pa.list_(_message_type())),
            ("source_row", pa.int64()),
            ("rejected_answer", pa.string()),
            ("desirable", pa.bool_()),
            ("rejected_prompt", pa.string()),
        ]
    )


def conversations_table(conversations: Sequence[Conversation]) -> pa.Table:
    """Conversations as one Arrow table in the stored layout."""
    import pyarrow as pa

    columns = {
        "conversation_id": [c.conversation_id for c in conversations],
        "tree_id": [c.tree_id for c in conversations],
        "system": [c.system for c in conversations],
        "messages": [[{"role": m.role, "content": m.content} for m in c.messages] for c in conversations],
        "source_row": [c.source_row for c in conversations],
        "rejected_answer": [c.rejected_answer for c in conversations],
        "desirable": [c.desirable for c in conversations],
        "rejected_prompt": [c.rejected_prompt for c in conversations],
    }
    return pa.table(columns, schema=_schema())


def flat_table(ids: pa.Array, columns: FlatColumns) -> pa.Table:
    """One single-exchange conversation per row (row ``i`` is source row ``i + 1``); every id is its own tree.

    ``ids`` and the text arrays are string arrays of the same length; prompts, answers and systems hold no
    nulls; the desirability flags are a boolean array.
    """
    import pyarrow as pa

    prompts, answers, systems, rejected = columns.prompts, columns.answers, columns.systems, columns.rejected
    n = len(ids)
    contents = pa.concat_arrays([prompts.cast(pa.string()), answers.cast(pa.string())])
    contents = contents.take(pa.array(np.arange(2 * n, dtype=np.int64).reshape(2, n).T.ravel()))
    roles = pa.array(["user", "assistant"]).take(pa.array(np.tile(np.array([0, 1], dtype=np.int32), n)))
    message = pa.StructArray.from_arrays([roles, contents], fields=list(_message_type()))
    offsets = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))
    messages = pa.ListArray.from_arrays(offsets, message, type=pa.list_(_message_type()))
    columns = [
        ids,
        ids,
        systems if systems is not None else pa.repeat(pa.scalar("", pa.string()), n),
        messages,
        pa.array(np.arange(1, n + 1, dtype=np.int64)),
        rejected if rejected is not None else pa.nulls(n, pa.string()),
        columns.desirable if columns.desirable is not None else pa.nulls(n, pa.bool_()),
        columns.rejected_prompts if columns.rejected_prompts is not None else pa.nulls(n, pa.string()),
    ]
    schema = _schema()
    return pa.Table.from_arrays(
        [column.cast(field.type) for column, field in zip(columns, schema, strict=True)], schema=schema
    )


def table_conversations(table: pa.Table) -> list[Conversation]:
    """The conversations of a table in the stored layout."""
    data = table.to_pydict()
    return [
        Conversation(
            conversation_id=cid,
            tree_id=tree,
            system=system,
            messages=tuple(Message(role=m["role"], content=m["content"]) for m in messages),
            source_row=row,
            rejected_answer=rejected,
            desirable=desirable,
            rejected_prompt=rejected_prompt,
        )
        for cid, tree, system, messages, row, rejected, desirable, rejected_prompt in zip(
            data["conversation_id"],
            data["tree_id"],
            data["system"],
            data["messages"],
            data["source_row"],
            data["rejected_answer"],
            data.get("desirable", [None] * table.num_rows),
            data.get("rejected_prompt", [None] * table.num_rows),
            strict=True,
        )
    ]


def table_turns(table: pa.Table) -> np.ndarray:
    """User/assistant exchanges per conversation of a table in the stored layout."""
    import pyarrow.compute as pc

    lengths = pc.list_value_length(table.column("messages")).to_numpy(zero_copy_only=False)
    return lengths.astype(np.int64) // 2


def write_table(table: pa.Table, path: Path) -> None:
    """Write a table in the stored layout to a Parquet file."""
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def write_conversations(conversations: Sequence[Conversation], path: Path) -> None:
    """Write conversations to a Parquet file."""
    write_table(conversations_table(conversations), path)


def read_conversations(path: Path) -> list[Conversation]:
    """Read conversations written by ``write_conversations``."""
    import pyarrow.parquet as pq

    return table_conversations(pq.read_table(path, schema=_schema()))
