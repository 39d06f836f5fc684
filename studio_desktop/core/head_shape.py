"""The linear head of a classification or regression model, as its model config and ``head.json`` hold it.

Light on imports: the recipe seam names it without loading torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_desktop.core.errors import BackboneError

#: Written beside an adapter of a head model: the head's output count, transformers problem type and output
#: names, which the backbone needs to be loaded with before the adapter (and its head weights) go on top.
HEAD_FILE = "head.json"


@dataclass(frozen=True)
class HeadShape:
    """The linear head on the last token: its outputs, transformers' ``problem_type`` for them and a name
    per output (the model config's ``id2label``)."""

    num_labels: int
    problem_type: str
    labels: tuple[str, ...] = ()

    def apply(self, config: Any) -> None:
        """Set the head's fields in a transformers model config."""
        config.num_labels, config.problem_type = self.num_labels, self.problem_type
        if len(self.labels) == self.num_labels:
            config.id2label = dict(enumerate(self.labels))
            config.label2id = {name: index for index, name in enumerate(self.labels)}

    def save(self, folder: Path) -> None:
        """Write ``head.json`` into ``folder``."""
        data = {"num_labels": self.num_labels, "problem_type": self.problem_type, "labels": list(self.labels)}
        (Path(folder) / HEAD_FILE).write_text(json.dumps(data) + "\n", encoding="utf-8")

    @classmethod
    def of_config(cls, config: Any) -> HeadShape:
        """The head a transformers model config describes."""
        labels = tuple(str(config.id2label[index]) for index in range(config.num_labels))
        return cls(config.num_labels, config.problem_type, labels)

    @classmethod
    def load(cls, folder: Path) -> HeadShape:
        """The head saved in ``folder`` (``BackboneError`` when it is missing or unreadable)."""
        path = Path(folder) / HEAD_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            labels = tuple(str(name) for name in data.get("labels", ()))
            return cls(int(data["num_labels"]), str(data["problem_type"]), labels)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackboneError(f"Cannot read the head of the trained model ({path}): {exc}") from exc
