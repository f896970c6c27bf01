"""What both gallery stores share: the marker and format, the gallery error, one enrolled
photo's row, and how a database failure is told."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError
from lookalike.files import atomic_write, disk_full

MARKER = "lookalike-gallery.json"
FORMAT = "lookalike-gallery"
FORMAT_VERSION = 1


class GalleryError(LookalikeError):
    """A gallery that is missing, damaged, or used the wrong way."""


@dataclass
class PhotoRow:
    person: str
    digest: str
    source: str
    face: int
    n_faces: int
    ambiguous: bool
    vector: np.ndarray
    thumb: bytes | None


def damaged(path: Path, what: str) -> GalleryError:
    return GalleryError(f"gallery is damaged ({what})", path,
                        f"run `lookalike gallery check {path} --repair`, or re-create it and "
                        "enrol the photos again")


def db_error(path: Path, err: sqlite3.DatabaseError) -> GalleryError:
    """A SQLite failure as one line: full disk, busy and read-only are not damage."""
    text = str(err).lower()
    if disk_full(err, path):
        return GalleryError("no space left on device for the gallery database (SQLite needs "
                            "room for its journal, even to read); nothing was changed", path,
                            "free some space and run the command again (enrolment resumes "
                            "where it stopped)")
    if "locked" in text or "busy" in text:
        return GalleryError("is busy: another lookalike process kept it locked for over a "
                            "minute; nothing was changed", path,
                            "wait for it to finish and run the command again")
    if "readonly" in text or "read-only" in text:
        return GalleryError("is read-only; nothing was changed", path,
                            "check the folder's permissions")
    return damaged(path, f"database: {err}")


def write_atomic(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data), error=GalleryError, example="gallery",
                 point="gallery-save")
