"""The web page and REST API (``lookalike serve``). Needs the ``web`` extra (FastAPI, uvicorn);
nothing here is imported by ``import lookalike``."""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from lookalike.web.app import create_app

        return create_app
    raise AttributeError(name)
