"""What a gallery asks of its storage: the :class:`Store` protocol, and which store a spec names.

Two stores implement it: :class:`~lookalike.models.gallery.store_local.LocalStore` (a
directory: SQLite and a vector index file, :mod:`.store_index`) and
:class:`~lookalike.models.gallery.store_pg.PgStore` (PostgreSQL with pgvector). A store keeps
the rows (:class:`~lookalike.models.gallery.common.PhotoRow`: one per enrolled photo), finds
nearest vectors and keeps its own consistency; what the rows mean — which face is a person,
how people are ranked and how sure — is the gallery's (:mod:`.enrol`, :mod:`.search`).
Both are made with ``create_at(spec, manifest)`` and ``open_at(spec)``; :func:`store_class`
says which one a spec names.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from lookalike.models.gallery.common import PhotoRow

__all__ = ["Store", "is_gallery", "is_gallery_spec", "is_pg_spec", "store_class"]


@runtime_checkable
class Store(Protocol):
    """The storage of one gallery (see the module doc)."""

    #: The gallery's manifest as stored (format, embedder, dim, threshold, …).
    manifest: dict

    @classmethod
    def create_at(cls, spec: str, manifest: dict) -> Store:
        """A new, empty gallery at ``spec``; :class:`GalleryError` when one is there."""
        ...

    @classmethod
    def open_at(cls, spec: str) -> Store:
        """The gallery at ``spec``; :class:`GalleryError` when there is none, or a damaged one."""
        ...

    def close(self) -> None: ...

    # -- metadata --------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def generation(self) -> int:
        """A number that changes whenever photos are added or removed."""
        ...

    def index_kind(self) -> str:
        """How search runs (``exact``, ``ivf``, ``hnsw``…), for ``describe``."""
        ...

    # -- reading ---------------------------------------------------------------------------
    def people(self) -> list[tuple[str, int]]:
        """(person, number of photos), by name."""
        ...

    def count(self) -> int:
        """Photos enrolled."""
        ...

    def known_digests(self) -> dict[str, str]:
        """Content hash → person of every photo enrolled or skipped (for resuming)."""
        ...

    def person_vectors(self, person: str) -> np.ndarray:
        """The person's enrolled vectors, ``(n, dim)``."""
        ...

    def multi_photo_vectors(self, max_rows: int, seed: int = 0
                            ) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """A sample of photos of people with ≥ 2 photos: (ids, vectors, person names)."""
        ...

    def photo_info(self, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """Photo id → (person, source), for the ids that exist."""
        ...

    def thumbnail(self, photo_id: int) -> bytes | None: ...

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner products and photo ids of the ``k`` nearest photos of each row of ``Q``
        (id -1 where fewer)."""
        ...

    # -- writing ---------------------------------------------------------------------------
    def add_batch(self, rows: list[PhotoRow], skipped: list[tuple[str, str, str, str]]) -> int:
        """Rows and (person, digest, source, why) skipped photos in one transaction; the
        number of photos added."""
        ...

    def refresh_index(self) -> None:
        """Bring the search index up to date after enrolment."""
        ...

    def remove_person(self, name: str) -> list[str] | None:
        """Every trace of a person; their photos' content hashes (None: no such person)."""
        ...

    def check(self, repair: bool = False) -> list[str]:
        """What is wrong (empty: nothing); ``repair`` fixes what it can."""
        ...


def is_pg_spec(spec: str | Path) -> bool:
    return str(spec).startswith(("postgresql://", "postgres://"))


def is_gallery(path: str | Path) -> bool:
    """A directory holding a gallery marker file."""
    from lookalike.models.gallery.store_local import LocalStore

    return LocalStore.is_gallery(path)


def is_gallery_spec(spec: str | Path) -> bool:
    return is_pg_spec(spec) or is_gallery(spec)


def store_class(spec: str | Path) -> type[Store]:
    """The store a spec names: PostgreSQL for ``postgresql://…``, else a directory."""
    if str(spec).startswith("postgres"):
        from lookalike.models.gallery.store_pg import PgStore

        return PgStore
    from lookalike.models.gallery.store_local import LocalStore

    return LocalStore
