"""Enrolling photos into a gallery: listing what is new, analysing it
(:func:`lookalike.face.many.analyse`: in this process, on a pool of processes or on a Dask
cluster), choosing the face that is the person in each photo, and committing rows in batches.

One record per photo from listing to stored row: each new photo becomes a
:class:`~lookalike.face.many.Job` (person, source, content hash and — up to
:data:`KEEP_BYTES` in all — its bytes, so it is read and hashed once), the analysis returns it
as an :class:`~lookalike.face.many.Analysed`, and the face chosen in it becomes a
:class:`~lookalike.models.gallery.common.PhotoRow`.

Resumable: photos already in the gallery (same content hash) are skipped, and every person is
committed as soon as all their new photos are analysed, in batches of :data:`BATCH` photos, so
an interrupted run keeps what was done.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.errors import ImageError, printable
from lookalike.face.many import Analysed, Job, analyse
from lookalike.models.gallery.common import GalleryError, PhotoRow

if TYPE_CHECKING:
    from lookalike.models.gallery import Gallery

#: Photos committed per transaction during enrolment (a crash loses at most this many).
BATCH = 64
#: Bytes of photos kept from listing to analysis (each photo read once); photos past it are
#: read again where they are analysed (and checked against the hash taken when listed).
KEEP_BYTES = 256 * 2**20


@dataclass
class EnrolReport:
    added: int = 0
    already: int = 0
    people: set[str] = field(default_factory=set)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)
    ambiguous: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"added": self.added, "already_enrolled": self.already,
                "people": sorted(self.people), "skipped": self.skipped,
                "ambiguous": self.ambiguous, "seconds": round(self.seconds, 2)}


def add_folder(g: Gallery, folder: str | Path, *, person: str | None = None,
               workers: int | None = None, progress: bool = True, cluster: Any = None,
               ship: str = "auto") -> EnrolReport:
    """Enrol ``folder/<person>/*`` or, with ``person``, every photo below ``folder``."""
    from lookalike.photos.folders import _walk_photos, check_folder, list_labelled

    root = check_folder(folder)
    ignored: list[tuple[str, str]] = []  # not photos: reported, not enrolled
    if person:
        items = [(person, p) for p in _walk_photos(root, ignored)]
        if not items:
            raise GalleryError("no photos found", root, "give a folder with photos")
    else:
        items = [(ph.person, ph.path) for ph in list_labelled(root, ignored)]
    report = add_photos(g, items, workers=workers, progress=progress, cluster=cluster,
                        ship=ship)
    report.skipped[:0] = [(p, "ignored: " + why) for p, why in ignored]
    return report


def add_photos(g: Gallery, items: Sequence[tuple], *, workers: int | None = None,
               progress: bool = True, cache: bool = True, cluster: Any = None,
               ship: str = "auto") -> EnrolReport:
    """Enrol (person, photo path or bytes[, source name]) items (see
    :meth:`Gallery.add_photos`)."""
    t0 = time.perf_counter()
    # vectors from another embedder version (weights, precision) would not compare:
    # refuse before enrolling, in one line (Recognizer.pipeline)
    pipe = g.pipeline
    if not cache:  # the same models, nothing written to the embedding cache
        from lookalike.face.pipeline import FacePipeline

        pipe = FacePipeline(pipe.embedder, crops=pipe.crops, max_faces=pipe.max_faces,
                            detector=pipe.detector, cache=False)
    report = EnrolReport()
    known = g.store.known_digests()
    jobs = new_jobs(items, known, report, KEEP_BYTES if cluster is None else 0)
    remaining = Counter(j.person for j in jobs)
    # A person's only photo (none enrolled before): only its most prominent face is used.
    enrolled = set(known.values())
    jobs = [replace(j, first_only=remaining[j.person] == 1 and j.person not in enrolled)
            for j in jobs]
    done: dict[str, list[Analysed]] = defaultdict(list)
    rows: list[PhotoRow] = []
    skipped_rows: list[tuple[str, str, str, str]] = []

    def commit() -> None:
        report.added += g.store.add_batch(rows, skipped_rows)
        rows.clear()
        skipped_rows.clear()

    workers = min(workers or os.cpu_count() or 1, len(jobs)) or 1
    try:
        for rec in analyse(jobs, pipeline=pipe, workers=workers, cluster=cluster, ship=ship,
                           progress=progress, desc="enrolling"):
            person = rec.job.person
            done[person].append(rec)
            remaining[person] -= 1
            if remaining[person] == 0:
                rows += finish_person(g, person, done.pop(person), report, skipped_rows)
                if len(rows) + len(skipped_rows) >= BATCH:
                    commit()
    finally:
        commit()  # an interrupted run keeps every person fully analysed so far
    g.store.refresh_index()
    if report.added or g.store.meta("scale_count") != str(g.store.count()):
        # also when a killed run committed photos but never got to calibrate them
        g.calibrate()
    report.seconds = time.perf_counter() - t0
    return report


def new_jobs(items: Sequence[tuple], known: dict[str, str], report: EnrolReport,
             keep_bytes: int = KEEP_BYTES) -> list[Job]:
    """The photos to analyse, each read and hashed here once (its bytes kept in the job while
    they total at most ``keep_bytes``), after leaving out unreadable, empty and already
    enrolled ones (noted in ``report``)."""
    from lookalike.photos.images import content_hash, read_bytes

    jobs: list[Job] = []
    seen: dict[str, str] = {}
    kept = 0
    for item in items:
        person, path = item[0], item[1]
        # printable: stored as UTF-8 text and shown (a non-UTF-8 file name cannot be)
        source = printable(item[2] if len(item) > 2 else path)
        given = isinstance(path, bytes)  # bytes (an upload): kept whatever their size
        person = printable(person).strip()
        if not person:
            raise GalleryError("a person's name is empty", source, "name the person")
        try:
            data = read_bytes(path)
        except ImageError as err:
            report.skipped.append((source, err.detail))
            continue
        if not data:  # not "already enrolled" when another empty file came first
            report.skipped.append((source, "is an empty file (0 bytes) — remove it or "
                                           "replace it with a photo"))
            continue
        digest = content_hash(data)
        owner = known.get(digest) or seen.get(digest)
        if owner is not None:
            if owner == person:
                report.already += 1
            else:
                report.skipped.append((source, f"the same photo is already enrolled as "
                                               f"{owner}"))
            continue
        seen[digest] = person
        keep = given or kept + len(data) <= keep_bytes
        kept += len(data) if keep else 0
        jobs.append(Job(len(jobs), source if given else str(path), digest,
                        data=data if keep else None, person=person, source=source))
    return jobs


def finish_person(g: Gallery, person: str, results: list[Analysed], report: EnrolReport,
                  skipped_rows: list[tuple[str, str, str, str]]) -> list[PhotoRow]:
    """All new photos of ``person`` are analysed: choose the face that is them in each
    (against their photos already enrolled); their rows."""
    from lookalike.face.choose import choose_faces

    with_faces = []
    for r in results:
        src = r.job.source
        if r.faces is None:
            report.skipped.append((src, r.error or "unreadable"))
        elif not len(r.faces.embeddings):
            report.skipped.append((src, "no face found"))
            skipped_rows.append((person, r.job.digest, src, "no face found"))
        else:
            with_faces.append(r)
    if not with_faces:
        return []
    choice = [0] * len(with_faces)
    ambiguous = [False] * len(with_faces)
    if any(len(r.faces.embeddings) > 1 for r in with_faces):
        old = g.store.person_vectors(person)
        ch = choose_faces([v[None] for v in old] + [r.faces.embeddings for r in with_faces],
                          g.threshold)[len(old):]
        choice = [c.index for c in ch]
        ambiguous = [c.ambiguous for c in ch]
    rows = []
    for r, c, amb in zip(with_faces, choice, ambiguous, strict=True):
        a, src = r.faces, r.job.source
        if amb:
            report.ambiguous.append((src, f"{len(a.embeddings)} faces; chose face {c + 1}"))
        elif a.n_faces > len(a.embeddings):
            report.ambiguous.append((src, f"{a.n_faces} faces and no other photo of {person} "
                                          "to compare with; chose the most prominent"))
        thumbs = a.thumbs
        rows.append(PhotoRow(person, r.job.digest, src, c, max(a.n_faces, len(a.embeddings)),
                             amb, a.embeddings[c], thumbs[c] if c < len(thumbs) else None))
        report.people.add(person)
    return rows


def add_uploads(g: Gallery, person: str, files: Sequence[tuple[str, bytes]]) -> EnrolReport:
    """Enrol photos of ``person`` given as (name, bytes), e.g. web uploads: analysed from
    memory in this process (nothing is written to disk, not even the embedding cache); the
    source recorded is ``web upload NAME``."""
    items = [(person, data, f"web upload {name}") for name, data in files]
    return add_photos(g, items, workers=1, progress=False, cache=False)
