"""Multi-turn conversations from H2O-style ``id``/``parent_id`` chains.

Each row is one user/assistant exchange. A row whose parent id is empty, or names no row, is a root.
Every leaf row (a row that no other row names as parent) yields one conversation holding all its ancestors'
turns from the root down to the leaf, so a branching tree yields one conversation per leaf, all sharing the
root's id as ``tree_id``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path

from studio_desktop.core.data.conversations import Conversation, Message
from studio_desktop.core.errors import DataError

_UNVISITED, _ON_PATH, _DONE = 0, 1, 2


def normalise_id(value: object) -> str | None:
    """The comparable text of an id cell, or ``None`` when the cell is empty.

    Whole floats lose their ``.0``: a parent column with missing values is read as floats, so parent ``1.0``
    must match id ``1``.
    """
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
        return repr(value)
    text = str(value).strip()
    if not text or text.lower() in {"nan", "none", "<na>"}:
        return None
    return text


def index_unique_ids(
    ids: Sequence[object], *, file: str | Path, id_column: str
) -> tuple[list[str], dict[str, int]]:
    """Normalised ids and a map id → 0-based position; refuses empty and duplicate ids."""
    keys: list[str] = []
    position: dict[str, int] = {}
    for i, value in enumerate(ids):
        key = normalise_id(value)
        if key is None:
            raise DataError(
                "the id is empty; every row needs a unique id when an id column is set",
                file=file,
                row=i + 1,
                field=id_column,
            )
        first = position.setdefault(key, i)
        if first != i:
            raise DataError(
                f"id '{key}' is also used by row {first + 1}; ids must be unique",
                file=file,
                row=i + 1,
                field=id_column,
            )
        keys.append(key)
    return keys, position


def build_chain_conversations(
    ids: Sequence[object],
    parent_ids: Sequence[object],
    *,
    prompts: Sequence[str],
    answers: Sequence[str],
    systems: Sequence[str],
    rejected: Sequence[str | None] | None = None,
    rejected_prompts: Sequence[str | None] | None = None,
    file: str | Path,
    id_column: str,
    parent_id_column: str,
) -> list[Conversation]:
    """One conversation per leaf row, in the order of the leaf rows in the file.

    All sequences are aligned by row (0-based position = data row - 1). Prompts and answers must already be
    checked non-empty. The system prompt is the root row's; the rejected answer and its own prompt are the
    leaf row's.
    """
    if id_column == parent_id_column:
        raise DataError(
            "the id column and the parent id column must be different columns",
            file=file,
            field=parent_id_column,
        )
    keys, position = index_unique_ids(ids, file=file, id_column=id_column)
    parents = _resolve_parents(keys, parent_ids, position, file=file, parent_id_column=parent_id_column)
    roots = _find_roots(keys, parents, file=file, parent_id_column=parent_id_column)
    has_child = [False] * len(keys)
    for parent in parents:
        if parent >= 0:
            has_child[parent] = True
    conversations: list[Conversation] = []
    for leaf, is_parent in enumerate(has_child):
        if is_parent:
            continue
        path = _path_from_root(leaf, parents)
        messages: list[Message] = []
        for i in path:
            messages.append(Message("user", prompts[i]))
            messages.append(Message("assistant", answers[i]))
        conversations.append(
            Conversation(
                conversation_id=keys[leaf],
                tree_id=keys[roots[leaf]],
                system=systems[path[0]],
                messages=tuple(messages),
                source_row=leaf + 1,
                rejected_answer=rejected[leaf] if rejected is not None else None,
                rejected_prompt=rejected_prompts[leaf] if rejected_prompts is not None else None,
            )
        )
    return conversations


def _resolve_parents(
    keys: list[str],
    parent_ids: Sequence[object],
    position: dict[str, int],
    *,
    file: str | Path,
    parent_id_column: str,
) -> list[int]:
    """The 0-based parent position of every row, -1 for a root (empty parent id or one naming no row)."""
    parents: list[int] = []
    for i, value in enumerate(parent_ids):
        key = normalise_id(value)
        if key is not None and key == keys[i]:
            raise DataError(
                f"the row names itself ('{key}') as its parent; clear its parent id to make it a root",
                file=file,
                row=i + 1,
                field=parent_id_column,
            )
        parents.append(position.get(key, -1) if key is not None else -1)
    return parents


def _find_roots(keys: list[str], parents: list[int], *, file: str | Path, parent_id_column: str) -> list[int]:
    """The root position of every row, in linear time; refuses cycles of parent ids."""
    state = [_UNVISITED] * len(parents)
    roots = [-1] * len(parents)
    for start in range(len(parents)):
        path: list[int] = []
        node = start
        while node >= 0 and state[node] == _UNVISITED:
            state[node] = _ON_PATH
            path.append(node)
            node = parents[node]
        if node >= 0 and state[node] == _ON_PATH:
            _raise_cycle(path[path.index(node) :], keys, file=file, parent_id_column=parent_id_column)
        root = path[-1] if node < 0 else roots[node]
        for visited in path:
            state[visited] = _DONE
            roots[visited] = root
    return roots


def _raise_cycle(cycle: list[int], keys: list[str], *, file: str | Path, parent_id_column: str) -> None:
    start = cycle.index(min(cycle))
    cycle = cycle[start:] + cycle[:start]
    rows = ", ".join(str(i + 1) for i in cycle)
    walk = " → ".join(f"'{keys[i]}'" for i in [*cycle, cycle[0]])
    raise DataError(
        f"rows {rows} form a cycle of parent ids ({walk}); "
        "clear the parent id of the row that starts the conversation",
        file=file,
        row=cycle[0] + 1,
        field=parent_id_column,
    )


def _path_from_root(leaf: int, parents: list[int]) -> list[int]:
    path = [leaf]
    while parents[path[-1]] >= 0:
        path.append(parents[path[-1]])
    path.reverse()
    return path
