"""YAML read with bounds: a config is small, so a huge file, an alias bomb or deep nesting is refused before
any value is built (``yaml.safe_load`` would expand a 500-byte alias bomb into gigabytes)."""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_VALUES = 100_000  # values after aliases are expanded: far beyond any config
MAX_DEPTH = 64


class YamlLimitError(ValueError):
    """The document exceeds a bound; the message says which."""


def expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once every alias is expanded (counted without expanding, and
    at most ``MAX_VALUES + 1``); raises ``YamlLimitError`` past ``MAX_DEPTH`` levels."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep")
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = MAX_VALUES + 1  # a node that contains itself expands forever
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(key, depth + 1) + size(value, depth + 1) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item, depth + 1) for item in node.value)
        else:
            total = 1
        sizes[id(node)] = total = min(total, MAX_VALUES + 1)
        return total

    return size(root, 0)


def load_bounded(text: str) -> Any:
    """``yaml.safe_load(text)`` for a document within the bounds; ``YamlLimitError`` or ``yaml.YAMLError``
    otherwise."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise YamlLimitError(f"larger than {MAX_BYTES // 1024} KiB; a config is a few KiB")
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep") from None
        if node is None:
            return None
        if expanded_size(node) > MAX_VALUES:
            raise YamlLimitError(f"more than {MAX_VALUES:,} values once its aliases are expanded")
        return loader.construct_document(node)
    finally:
        loader.dispose()
