"""The ``lookalike`` command: one module per group of commands over the Python API, and one
printing module (:mod:`.output`). Nothing in the library imports this package."""

from __future__ import annotations

from lookalike.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
