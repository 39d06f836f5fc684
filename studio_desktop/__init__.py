"""Studio Desktop: offline-first desktop application for no-code fine-tuning of language models."""

__version__ = "0.1.0"
