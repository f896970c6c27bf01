"""Errors a user can cause and fix. The CLI prints them as one line, never a traceback."""

from __future__ import annotations

from pathlib import Path


def printable(text: str | Path) -> str:
    """``text`` safe to print on one line: control characters (a line break in a file name)
    escaped, and bytes that are not UTF-8 (file names from other systems, which Python keeps
    as surrogate escapes) shown as U+FFFD instead of failing to encode."""
    s = str(text)
    if s.isprintable():
        return s
    s = s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in s)


class LookalikeError(Exception):
    """A problem with the user's input; ``str(err)`` is a complete one-line message."""

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None, fix: str | None = None):
        self.path = None if path is None else printable(path)
        self.fix = fix
        #: The message and the fix without the path (for lists that show the path already).
        self.detail = f"{message} — {fix}" if fix else message
        parts = [f"{self.path}: {message}" if self.path else message]
        if fix:
            parts.append(fix)
        super().__init__(" — ".join(parts))


class ImageError(LookalikeError):
    """A file that cannot be read as a photo."""


class NoFaceError(LookalikeError):
    """A photo in which no face was found."""

    exit_code = 3


class DatasetError(LookalikeError):
    """A data folder that cannot be used for training or evaluation."""


class ModelError(LookalikeError):
    """A model file that is missing, damaged or from an incompatible version."""


def require(module: str, *, extra: str, purpose: str,
            error: type[LookalikeError] = LookalikeError, fix: str | None = None):
    """Import an optional dependency, or raise a one-line ``error`` saying what needs it
    (``purpose``) and how to install it (the ``lookalike[extra]`` that brings it)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise error(purpose, fix=fix or f"pip install 'lookalike[{extra}]'") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager stopping us), raised by the CLI's handler and
    handled like Ctrl-C: the code being interrupted cleans up (temporary files are removed,
    the previous model kept), then the CLI exits 143."""


def stop_reason(terminated: bool) -> tuple[str, int]:
    """How an interrupted command says it stopped, and its exit status: Ctrl-C or SIGTERM."""
    return ("terminated", 143) if terminated else ("interrupted", 130)
