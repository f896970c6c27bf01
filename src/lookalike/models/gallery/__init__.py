"""Galleries: people added and removed without retraining, searched by face similarity.

A gallery keeps one embedding per enrolled photo (the face chosen as in training, see
:mod:`lookalike.face.choose`), with a thumbnail, and answers "whom does this face look like?" by
nearest-neighbour search over the photos, ranked per person::

    from lookalike.models.gallery import Gallery
    g = Gallery.create("people.gallery")            # or "postgresql://…" (pgvector)
    g.add_folder("photos/")                          # photos/<person>/*.jpg, resumable
    result = g.predict("me.jpg", top=5)              # a PhotoResult, as Model.predict gives
    g.remove("Jane Doe")                             # every trace of Jane is gone

The package by concern: :class:`Gallery` (here) opens and creates galleries and answers
through the other modules — :mod:`.store` (the :class:`~.store.Store` protocol both storages
implement: :mod:`.store_local` with :mod:`.store_index` and :mod:`.ann`, and
:mod:`.store_pg`), :mod:`.enrol` (adding photos), :mod:`.search` (ranking people and the
calibrated percentages), :mod:`.public` (galleries of public figures in one command).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike._version import __version__
from lookalike.answer.ranking import FaceResult, PhotoResult, photo_answer
from lookalike.errors import printable
from lookalike.models import kinds
from lookalike.models.gallery import enrol
from lookalike.models.gallery.common import FORMAT, FORMAT_VERSION, MARKER, GalleryError
from lookalike.models.gallery.enrol import BATCH, EnrolReport
from lookalike.models.gallery.search import (
    CANDIDATE_PHOTOS,
    GalleryMatch,
    rank_faces,
    rank_rows,
)
from lookalike.models.gallery.store import Store, is_gallery, is_gallery_spec, store_class
from lookalike.models.recognizer import Editable, EmbeddingRecognizer
from lookalike.photos.images import PhotoSource

__all__ = ["BATCH", "CANDIDATE_PHOTOS", "EnrolReport", "Gallery", "GalleryError",
           "GalleryMatch", "MARKER", "Store", "is_gallery", "is_gallery_spec"]


class Gallery(EmbeddingRecognizer):
    """A searchable set of people (see the module doc). Also a :class:`Recognizer`, so
    ``lookalike predict``, evaluation and the web layer accept it where they take a model;
    its :meth:`editable` part is itself."""

    has_thumbnails = True  # thumbnail ids are enrolled photos' ids

    def __init__(self, store: Store, spec: str):
        self.store = store
        self.spec = spec
        self.path = Path(spec) if not spec.startswith("postgres") else None
        self.manifest = dict(store.manifest)
        self._pipeline = None
        self._labels: tuple[int, list[str], dict[str, int]] | None = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, spec: str | Path, *, embedder: str = "sface", crops: bool = False
               ) -> Gallery:
        from lookalike.answer.heads import DEFAULT_SCALE
        from lookalike.face.embedders import get_embedder
        from lookalike.models.archive import new_manifest

        e = get_embedder(embedder)
        manifest = new_manifest(kind="gallery", embedder={"name": e.name, "version": e.version},
                                dim=int(e.dim), threshold={"similarity": float(e.threshold)},
                                crops=bool(crops), scale=DEFAULT_SCALE)
        manifest["format"], manifest["format_version"] = FORMAT, FORMAT_VERSION
        s = str(spec)
        return cls(store_class(s).create_at(s, manifest), s)

    @classmethod
    def open(cls, spec: str | Path) -> Gallery:
        s = str(spec)
        return cls(store_class(s).open_at(s), s)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what it holds ---------------------------------------------------------------------
    def people(self) -> list[tuple[str, int]]:
        """(person, number of photos), by name."""
        return self.store.people()

    @property
    def labels(self) -> list[str]:
        return self._label_index()[1]

    def _label_index(self) -> tuple[int, list[str], dict[str, int]]:
        gen = self.store.generation()
        if self._labels is None or self._labels[0] != gen:
            names = [p for p, n in self.store.people() if n > 0]
            self._labels = (gen, names, {p: i for i, p in enumerate(names)})
        return self._labels

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"]["similarity"])

    @property
    def scale(self) -> float:
        return float(self.store.meta("scale") or self.manifest.get("scale") or 24.0)

    def editable(self) -> Editable:
        return self

    def describe(self) -> dict:
        people = self.people()
        return {"kind": "gallery", "gallery": self.spec, "embedder": self.manifest["embedder"],
                "threshold": self.manifest["threshold"], "scale": self.scale,
                "people": len(people), "photos": sum(n for _, n in people),
                "index": self.store.index_kind(), "created": self.manifest.get("created"),
                "lookalike_version": __version__}

    def thumbnail(self, photo_id: int) -> bytes | None:
        """JPEG thumbnail of an enrolled photo's face (ids are in ``nearest``/``best_photo``)."""
        return self.store.thumbnail(int(photo_id))

    # -- enrolment (lookalike.models.gallery.enrol) ----------------------------------------
    def add_folder(self, folder: str | Path, *, person: str | None = None,
                   workers: int | None = None, progress: bool = True, cluster: Any = None,
                   ship: str = "auto") -> EnrolReport:
        """Enrol ``folder/<person>/*`` or, with ``person``, every photo below ``folder``."""
        return enrol.add_folder(self, folder, person=person, workers=workers,
                                progress=progress, cluster=cluster, ship=ship)

    def add_photos(self, items: Sequence[tuple], *, workers: int | None = None,
                   progress: bool = True, cache: bool = True, cluster: Any = None,
                   ship: str = "auto") -> EnrolReport:
        """Enrol (person, photo path) pairs — or (person, path, source name to record) — on
        ``workers`` processes (default: all cores). ``cache=False``: the photos' analyses are
        not written to the embedding cache (web uploads stay off the disk).

        ``cluster``/``ship``: the embeddings made on a Dask cluster
        (:mod:`lookalike.face.cluster`); what is stored is the same, and this process commits
        it. Resumable: see :mod:`lookalike.models.gallery.enrol`."""
        return enrol.add_photos(self, items, workers=workers, progress=progress, cache=cache,
                                cluster=cluster, ship=ship)

    def add_uploads(self, person: str, files: Sequence[tuple[str, bytes]]) -> EnrolReport:
        """Enrol photos of ``person`` given as (name, bytes), e.g. web uploads, from memory
        (kept out of the embedding cache)."""
        return enrol.add_uploads(self, person, files)

    def remove(self, person: str, *, purge_cache: bool = True) -> int:
        """Forget a person: photos, embeddings, thumbnails, index entries and metadata (and,
        with ``purge_cache``, their photos' entries in the local embedding cache). Returns the
        number of photos removed."""
        digests = self.store.remove_person(person)
        stored = printable(person).strip()  # the name as add_photos stored it
        if digests is None and stored != person:
            digests = self.store.remove_person(stored)
        if digests is None:
            close = [p for p, _ in self.people() if p.casefold() == person.casefold()]
            raise GalleryError(f"{person!r} is not in the gallery", self.spec,
                               f"did you mean {close[0]!r}?" if close else
                               "see `lookalike gallery list`")
        if purge_cache and digests:
            from lookalike.cache import purge_photos

            purge_photos(digests)
        self._labels = None
        return len(digests)

    def calibrate(self, max_rows: int = 2000, seed: int = 0) -> float | None:
        """Fit the softmax temperature on the gallery's people with ≥ 2 photos
        (:func:`lookalike.models.gallery.search.calibrate`); stored, and returned (None when
        there are too few such people)."""
        from lookalike.models.gallery.search import calibrate

        return calibrate(self.store, max_rows, seed)

    # -- answering -------------------------------------------------------------------------
    def _mismatch(self, what: str) -> GalleryError:
        return GalleryError(f"was enrolled with {what}", self.spec,
                            "enrol the photos again in a new gallery")

    def face_results(self, faces, embeddings: np.ndarray, top: int | None = None
                     ) -> list[FaceResult]:
        """Rank people for each face embedding (:mod:`lookalike.models.gallery.search`)."""
        _, labels, where = self._label_index()
        return rank_faces(self.store, self.spec, faces, embeddings, labels=labels, where=where,
                          scale=self.scale, threshold=self.threshold, top=top)

    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None, top: int | None = None) -> PhotoResult:
        """Whom the face in ``photo`` (every face with ``all_faces``) looks like; ``top``:
        rank at least this many people (more candidate photos are fetched)."""
        label = name or ("<bytes>" if isinstance(photo, bytes) else str(photo))
        analysis = self.pipeline.analyze(photo, name=label)
        n = len(analysis.faces) if all_faces else min(1, len(analysis.faces))
        _, labels, where = self._label_index()
        rows = rank_rows(self.store, self.spec, analysis.faces[:n], analysis.embeddings[:n],
                         labels=labels, where=where, scale=self.scale,
                         threshold=self.threshold, top=top)
        return photo_answer(label, rows, analysis.image_size, analysis.n_faces)

    def search(self, photo: PhotoSource, *, all_faces: bool = False,
               name: str | None = None, top: int | None = None) -> PhotoResult:
        """The gallery's own word for :meth:`predict` (``lookalike gallery search``)."""
        return self.predict(photo, all_faces=all_faces, name=name, top=top)

    def check(self, repair: bool = False) -> list[str]:
        return self.store.check(repair=repair)


kinds.register("gallery", opener=lambda spec: Gallery.open(spec))
