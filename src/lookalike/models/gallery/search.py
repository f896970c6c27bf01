"""Searching a gallery: people ranked for a face by their closest enrolled photo, and the
temperature that makes the ranking's percentages calibrated.

Percentages: per person, the cosine similarity of their closest photo; a softmax
(:func:`lookalike.answer.heads.softmax`) of those similarities times a temperature (fitted on
the gallery's own people with ≥ 2 photos by :func:`calibrate`, else
:data:`lookalike.answer.heads.DEFAULT_SCALE`) over the people among the nearest
:data:`CANDIDATE_PHOTOS` photos. "Unknown / none of these" when the closest photo's similarity
is below the embedder's same-person threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lookalike.answer.heads import softmax
from lookalike.answer.ranking import FaceResult, Match
from lookalike.models.gallery.common import GalleryError
from lookalike.models.gallery.store import Store

#: Photos fetched per query face; the people among them are ranked.
CANDIDATE_PHOTOS = 100
#: People in each calibration row (the rest of the row is padded).
CALIBRATION_WIDTH = 20


@dataclass
class GalleryMatch(Match):
    """A ranked person plus their closest enrolled photo."""

    photo_id: int | None = None  # answered as ``best_photo`` (:meth:`Match.to_dict`)
    photo: str | None = None


def _closest_per_person(sims: np.ndarray, ids: np.ndarray, info: dict[int, tuple[str, str]],
                        leave_out: int | None = None) -> dict[str, tuple[float, int]]:
    """person → (similarity, photo id) of their closest photo among the candidates (ids are
    nearest first; ids missing from ``info`` were removed meanwhile)."""
    best: dict[str, tuple[float, int]] = {}
    for s, pid in zip(sims, ids, strict=True):
        if pid < 0 or pid == leave_out or int(pid) not in info:
            continue
        best.setdefault(info[int(pid)][0], (float(s), int(pid)))
    return best


def rank_faces(store: Store, spec: str, faces: Sequence, embeddings: np.ndarray, *,
               labels: list[str], where: dict[str, int], scale: float, threshold: float,
               top: int | None = None) -> list[FaceResult]:
    """Each face's ranking of people (see the module doc); ``labels``/``where``: the
    gallery's people with photos and their positions in ``proba``."""
    return [FaceResult(*row) for row in rank_rows(
        store, spec, faces, embeddings, labels=labels, where=where, scale=scale,
        threshold=threshold, top=top)]


def rank_rows(store: Store, spec: str, faces: Sequence, embeddings: np.ndarray, *,
              labels: list[str], where: dict[str, int], scale: float, threshold: float,
              top: int | None = None) -> list[tuple]:
    """:func:`rank_faces`' answers as the tuples of their fields (a photo's answer is made
    of them in one call: :func:`lookalike.answer.ranking.photo_answer`)."""
    if len(embeddings) == 0:
        return []
    n = store.count()
    if n == 0:
        raise GalleryError("the gallery is empty", spec,
                           "enrol people with `lookalike gallery add`")
    k = min(n, max(CANDIDATE_PHOTOS, 10 * (top or 0)))
    D, ids_ = store.search(np.asarray(embeddings, np.float32), k)
    info = store.photo_info({int(i) for i in ids_.ravel() if i >= 0})
    out = []
    for face, sims, ids in zip(faces, D, ids_, strict=True):
        best = _closest_per_person(sims, ids, info)
        if not best:
            raise GalleryError(
                "none of the closest photos is in the gallery any more (removed meanwhile, "
                "or the index is out of step with the database)", spec,
                "try again; if it persists run `lookalike gallery check --repair`")
        people = list(best)
        sim = np.array([best[p][0] for p in people])
        prob = softmax(scale * sim[None])[0]
        order = np.argsort(-prob, kind="stable")
        ranking = [GalleryMatch(people[i], float(prob[i]), float(sim[i]), best[people[i]][1],
                                info[best[people[i]][1]][1]) for i in order]
        proba = np.zeros(len(labels))
        for p, q in zip(people, prob, strict=True):
            if p in where:
                proba[where[p]] = q
        top_sim = float(sim.max())
        out.append((face, list(ranking), top_sim < threshold, top_sim, proba,
                    [m.photo_id for m in ranking]))
    return out


def calibrate(store: Store, max_rows: int = 2000, seed: int = 0) -> float | None:
    """Fit the softmax temperature on the gallery's people with ≥ 2 photos: each sampled
    photo is searched with itself left out. Stored in the gallery (``scale``, and the photo
    count it was fitted at, ``scale_count``); returns it (None when there are too few such
    people)."""
    from lookalike.answer.heads import DEFAULT_SCALE, fit_scale

    count = str(store.count())
    multi = store.multi_photo_vectors(max_rows, seed)
    if multi is None or len(multi[0]) < 20:
        store.set_meta("scale_count", count)
        return None
    ids, X, owners = multi
    D, ids_ = store.search(X, min(CANDIDATE_PHOTOS + 1, store.count()))
    names = store.photo_info({int(i) for i in ids_.ravel() if i >= 0})
    logits, y = [], []
    for row in range(len(ids)):
        best = _closest_per_person(D[row], ids_[row], names, leave_out=int(ids[row]))
        cands = sorted(((p, s) for p, (s, _) in best.items()),
                       key=lambda kv: -kv[1])[:CALIBRATION_WIDTH]
        who = [p for p, _ in cands]
        if owners[row] not in who:
            continue
        z = np.full(CALIBRATION_WIDTH, -4.0)
        z[:len(cands)] = [s for _, s in cands]
        logits.append(z)
        y.append(who.index(owners[row]))
    if len(y) < 20:
        store.set_meta("scale_count", count)
        return None
    scale = fit_scale(np.array(logits), np.array(y), prior=DEFAULT_SCALE)
    store.set_meta("scale", repr(float(scale)))
    store.set_meta("scale_count", count)  # after the scale: a kill between re-fits
    return scale
