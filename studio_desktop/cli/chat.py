"""Placeholder replaced by the chat command module."""

from __future__ import annotations

import argparse


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register nothing yet."""
