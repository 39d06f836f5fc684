"""PySide6 user interface. Never imports torch, transformers, peft, trl, accelerate, datasets or worker."""
