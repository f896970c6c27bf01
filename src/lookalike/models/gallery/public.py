"""Public-figure galleries in one command: ``lookalike gallery create G --from lfw``.

LFW (Labeled Faces in the Wild: 13,233 photos of 5,749 public figures, collected from news
photos) is read where scikit-learn keeps it — ``DATA_HOME/lfw_home/lfw_funneled/<Name>/*.jpg``,
``DATA_HOME`` being ``--data-home``, or where ``lookalike demo`` looks (its
``$LOOKALIKE_DATA``, ``../shared/data``, scikit-learn's data home) — and downloaded by
scikit-learn's loader only when asked (``download=True``, online).
Folder names become the people's names with spaces (``George_W_Bush`` → ``George W Bush``).
Enrolment is :meth:`Gallery.add_photos`: resumable (re-running the command on the same
gallery adds what is missing), and it takes ``cluster=`` like ``gallery add``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lookalike.errors import LookalikeError
from lookalike.models.gallery.store_local import GalleryError

#: Sources ``--from`` understands.
SOURCES = ("lfw",)


def lfw_folder(data_home: str | Path | None = None, *, download: bool = False) -> Path:
    """``DATA_HOME/lfw_home/lfw_funneled`` when ``data_home`` is given (only there), else where
    ``lookalike demo`` finds LFW (:func:`lookalike.photos.public.find_lfw`: ``$LOOKALIKE_DATA``,
    ``../shared/data``, scikit-learn's data home). Downloaded through scikit-learn's loader
    only with ``download`` (about 200 MB); otherwise a one-line error saying where it looked."""
    from lookalike.photos.public import find_lfw

    if data_home is None:
        return find_lfw(None, download=download)
    home = Path(data_home).expanduser()
    for folder in (home / "lfw_home" / "lfw_funneled", home / "lfw_funneled"):
        if folder.is_dir():
            return folder
    if not download:
        raise LookalikeError("LFW not found (looked for lfw_home/lfw_funneled/ in the data home, "
                             "scikit-learn's layout)", home,
                             "pass --data-home DIR holding lfw_home/, or add --download to "
                             "fetch it (about 200 MB) with scikit-learn's loader")
    return find_lfw(home, download=True)


def lfw_items(folder: Path, *, people: int = 0) -> list[tuple[str, Path, str]]:
    """(name, photo, source) for every photo, people in name order (``people``: the first N
    only), the source recorded as ``lfw/<Folder>/<file>``."""
    from lookalike.photos.folders import person_name

    dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if people:
        dirs = dirs[:people]
    items = [(person_name(d).replace("_", " "), f, f"lfw/{d.name}/{f.name}")
             for d in dirs for f in sorted(d.glob("*.jpg"))]
    if not items:
        raise LookalikeError("no photos in it", folder, "check the LFW copy (<Name>/*.jpg)")
    return items


def create_from(spec: str | Path, source: str, *, data_home: str | Path | None = None,
                download: bool = False, people: int = 0, embedder: str = "sface",
                crops: bool = False, progress: bool = True, workers: int | None = None,
                cluster: Any = None, ship: str = "auto"):
    """Create (or, when it exists, complete) the gallery ``spec`` from a public set of faces.
    Returns (gallery, enrol report)."""
    from lookalike.models.gallery import Gallery, is_gallery

    if source not in SOURCES:
        raise LookalikeError(f"unknown source {source!r}", fix=f"choose {', '.join(SOURCES)}")
    items = lfw_items(lfw_folder(data_home, download=download), people=people)
    s = str(spec)
    try:
        g = Gallery.create(s, embedder=embedder, crops=crops)
    except GalleryError:
        if not (s.startswith("postgres") or is_gallery(s)):
            raise
        g = Gallery.open(s)  # an earlier run, interrupted or partial: add what is missing
    try:
        rep = g.add_photos(items, workers=workers, progress=progress, cluster=cluster, ship=ship)
    except BaseException:
        g.close()
        raise
    return g, rep
