"""The model file: a zip archive with ``manifest.json`` (what kind of model, its labels and
how it was made), arrays and thumbnails, written atomically. Every kind of model file shares
this container; :mod:`lookalike.models.kinds` reads the manifest's ``kind`` to pick the loader."""

from __future__ import annotations

import datetime
import io
import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lookalike.files as files
from lookalike._version import __version__
from lookalike.errors import ModelError

FORMAT = "lookalike-model"
FORMAT_VERSION = 1


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """:func:`lookalike.files.atomic_write` for model files (errors are :class:`ModelError`):
    a crash or full disk leaves the previous model whole and no half-written file in its
    place; ``.*.lookalike-partial`` leftovers of a killed writer are deleted by the next."""
    return files.atomic_write(path, write, error=ModelError, example="-o people.lookalike",
                              point="model-save")


def read_archive(path: str | Path) -> tuple[dict, zipfile.ZipFile]:
    """The manifest and the open archive of a model file; a clear :class:`ModelError` for a
    missing, damaged, foreign or too new file."""
    path = Path(path)
    if not path.exists():
        raise ModelError("model file not found", path, "train one with `lookalike train DATA -o "
                         f"{path.name}`")
    if path.is_dir():
        raise ModelError("is a folder, not a model file", path, "give the model file's path")
    try:
        zf = zipfile.ZipFile(path)
        manifest = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, zlib.error,
            NotImplementedError):
        # ValueError: bad JSON or UTF-8; zlib.error: a damaged compressed entry
        raise ModelError("is not a lookalike model or is damaged", path,
                         "train it again with `lookalike train`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError("is not a lookalike model", path, "train one with `lookalike train`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"was written in model format {manifest.get('format_version')} by lookalike "
            f"{manifest.get('lookalike_version')}; this lookalike {__version__} reads format "
            f"{FORMAT_VERSION}", path, "retrain it with this version")
    return manifest, zf


def new_manifest(**fields: Any) -> dict:
    """A manifest's common fields; ``runtime`` records the backend and precision the face
    networks ran with (informational: compatibility is the embedder's version)."""
    from lookalike.runtime import describe

    m = {"format": FORMAT, "format_version": FORMAT_VERSION, "lookalike_version": __version__,
         "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
         "runtime": describe()}
    m.update(fields)
    return m
