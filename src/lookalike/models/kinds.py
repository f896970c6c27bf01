"""The registry of model kinds: which module loads each kind, found by name.

Loading a file or gallery needs no knowledge of the kinds: a model file's manifest names its
kind; a folder or URI is recognised by the marker file or scheme a kind declares here. The
kind's module is imported only when such a file is loaded (nothing heavy at import time), and
registers its loader with :func:`register` when it is imported.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lookalike.errors import ModelError
from lookalike.models.archive import read_archive
from lookalike.models.recognizer import Recognizer


@dataclass(frozen=True)
class Kind:
    """A kind of recognizer: the module that defines it; a model file of this kind (its
    manifest's ``kind``), or a folder holding ``marker``, or a URI with one of ``schemes``."""

    name: str
    module: str
    marker: str | None = None
    schemes: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("embedding", "lookalike.models.model"),
    Kind("article", "lookalike.models.article.artifact"),
    Kind("gallery", "lookalike.models.gallery", marker="lookalike-gallery.json",
         schemes=("postgresql", "postgres")),
)}

#: Archive loaders: (manifest, open archive, path) -> recognizer.
ArchiveLoader = Callable[[dict, zipfile.ZipFile, Path], Recognizer]
#: Location openers: (path or URI) -> recognizer.
Opener = Callable[[str], Recognizer]

_archive_loaders: dict[str, ArchiveLoader] = {}
_openers: dict[str, Opener] = {}


def register(kind: str, *, from_archive: ArchiveLoader | None = None,
             opener: Opener | None = None) -> None:
    """Called by a kind's module when it is imported."""
    if from_archive is not None:
        _archive_loaders[kind] = from_archive
    if opener is not None:
        _openers[kind] = opener


def _module_of(kind: str) -> None:
    if kind in KINDS and kind not in _archive_loaders and kind not in _openers:
        importlib.import_module(KINDS[kind].module)


def location_kind(spec: str | Path) -> str | None:
    """The kind of a folder or URI (None: it is a model file, or nothing known)."""
    s = str(spec)
    for k in KINDS.values():
        if k.schemes and s.split("://", 1)[0] in k.schemes and "://" in s:
            return k.name
        if k.marker and (Path(s) / k.marker).is_file():
            return k.name
    return None


def load(path: str | Path) -> Recognizer:
    """Load any lookalike model file (face-embedding or the article's CNN), or a gallery
    (a folder holding lookalike-gallery.json, or postgresql://…#name)."""
    where = location_kind(path)
    if where is not None:
        _module_of(where)
        return _openers[where](str(path))
    path = Path(path)
    manifest, zf = read_archive(path)
    with zf:
        kind = manifest.get("kind")
        if isinstance(kind, str):
            _module_of(kind)
        loader = _archive_loaders.get(kind) if isinstance(kind, str) else None
        if loader is not None:
            return loader(manifest, zf, path)
    raise ModelError(f"has unknown model kind {kind!r}", path, "upgrade lookalike")
