""""Why do I look like them?" on answers: compare's pair, predict's and gallery search's matches,
and one face against several (``compare A B C ...``). The method is :mod:`lookalike.answer.why`.

- :func:`explain` (``lookalike.explain(a, b)``): which parts of the faces in two photos make
  their likeness;
- :func:`explain_result`: sets ``.why`` on the top matches of a ``predict`` / gallery answer
  (the match's face is its closest training / enrolled photo, read from the stored thumbnail);
- :func:`compare_many`: which of several photos the face in the first resembles most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.answer.comparison import _label, compare, photo_view, same_person_probability
from lookalike.answer.comparison import comparer as shared
from lookalike.answer.why import Why, explainer_for, unavailable
from lookalike.errors import NoFaceError
from lookalike.face.detector import Face
from lookalike.face.record import aligned_template

#: Matches explained per face by default (the top K shown).
DEFAULT_TOP = 3
#: Thumbnails (:func:`lookalike.face.pipeline.face_thumbnail`) are aligned with this margin.
THUMB_MARGIN = 0.15


def thumb_view(jpeg: bytes) -> tuple[np.ndarray, Face] | None:
    """A stored face thumbnail (aligned, margin 0.15) as a photo and its face."""
    import cv2

    if not jpeg:
        return None
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    size = bgr.shape[1]
    marks = aligned_template(size, THUMB_MARGIN).copy()
    side = size / (1.0 + 2.0 * THUMB_MARGIN)
    off = (size - side) / 2.0
    return np.ascontiguousarray(bgr[:, :, ::-1]), Face((off, off, side, side), marks, 1.0)


def explain(a: Any, b: Any, *, embedder: str = "sface",
            names: tuple[str, str] | None = None) -> Why:
    """Which parts of the faces in photos ``a`` and ``b`` (paths, bytes or RGB arrays) make
    their likeness: ``.parts`` (most first, with ``share`` and ``drop``), ``.sentence``,
    ``.heat`` (2 × 112 × 112), ``to_dict()``. Same errors as :func:`lookalike.compare`."""
    return compare(a, b, embedder=embedder, names=names, why=True).why


def explain_result(recognizer: Any, photo: Any, result: Any, top: int | None = DEFAULT_TOP,
                   name: str | None = None) -> int:
    """Set ``.why`` on the ``top`` first matches of every face of ``result`` (a
    :class:`~lookalike.answer.ranking.PhotoResult` of ``recognizer.predict(photo)``); the number of
    matches explained. Kinds without a shared face pipeline and thumbnails (the article's CNN)
    get an answer saying it is not available."""
    if not result.ok:
        return 0
    pipe = recognizer.pipeline
    if pipe is None or not recognizer.has_thumbnails:
        note = (f"not available for a {recognizer.kind} model: it does not compare faces by "
                "embedding (the look-alike card shows its Grad-CAM map instead)")
        for fr in result.faces:
            for m in fr.ranking[:top]:
                m.why = unavailable(note)
        return 0
    ex = explainer_for(pipe.embedder)
    rgb = None
    done = 0
    for fr in result.faces:
        if rgb is None:
            rgb, _ = photo_view(photo, fr.face, result.image_size, name or result.photo)
            scale = rgb.shape[1] / float(result.image_size[0]) if result.image_size else 1.0
        face = fr.face if abs(scale - 1.0) < 1e-9 else fr.face.scaled(scale)
        va = ex.view(rgb, face.unclipped())
        shown, views = [], []
        for m, idx in zip(fr.ranking[:top], fr.nearest[:top], strict=False):
            thumb = thumb_view(recognizer.thumbnail(idx)) if idx is not None else None
            if thumb is None:
                m.why = unavailable("not available: this match has no stored face thumbnail")
                continue
            shown.append(m)
            views.append(ex.view(*thumb))
        # the face's own looks go through the network once for all its matches
        for m, why in zip(shown, ex.explain_many(va, views) if views else [], strict=True):
            m.why = why
        done += len(shown)
    return done


@dataclass
class Candidate:
    photo: str
    similarity: float
    share: float  # of the resemblance, over the candidates (sums to 1)
    same_person_probability: float | None
    same_person: bool
    face: Face
    why: Why | None = field(default=None, repr=False)
    #: the verdict's threshold for this pair (compare's size-aware one: the smaller face's width)
    threshold: float | None = None

    def to_dict(self) -> dict:
        d = {"photo": self.photo, "similarity": round(float(self.similarity), 4),
             "probability": round(float(self.share), 4),
             "same_person_probability": None if self.same_person_probability is None
             else min(max(round(float(self.same_person_probability), 4), 0.0001), 0.9999),
             "same_person": bool(self.same_person), "face": self.face.to_dict()}
        if self.threshold is not None:
            d["threshold"] = round(float(self.threshold), 4)
        if self.why is not None:
            d["why"] = self.why.to_dict()
        return d


@dataclass
class ManyComparison:
    """Which of several photos the face in ``photo`` resembles most (``compare A B C ...``)."""

    photo: str
    face: Face
    candidates: list[Candidate]  # most alike first
    embedder: str
    threshold: float
    scale: float
    #: each candidate's aligned face (96 px JPEG), in ``candidates``' order, and the query's
    thumbs: list[bytes] = field(default_factory=list, repr=False)
    thumb: bytes = field(default=b"", repr=False)

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def to_dict(self) -> dict:
        from lookalike.schema import stamp

        return stamp("compare-many", {
                "photo": self.photo, "face": self.face.to_dict(),
                "most_alike": self.best.photo,
                "candidates": [c.to_dict() for c in self.candidates],
                "embedder": self.embedder, "threshold": round(float(self.threshold), 4),
                "method": f"probability: softmax of {self.scale:g} × similarity over the "
                          "candidates (the temperature of a gallery's or one-photo-per-person "
                          "model's ranking); same_person_probability and same_person: "
                          "compare's calibrated probability and verdict of each pair, for its "
                          "faces' size (each candidate's threshold); threshold: the verdict's "
                          "threshold for faces of LFW's size"})


def compare_many(photo: Any, others: Sequence[Any], *, embedder: str = "sface",
                 names: Sequence[str] | None = None, why: bool = False,
                 comparer: Any = None) -> ManyComparison:
    """Which of ``others`` the face in ``photo`` resembles most ("mom or dad?"): each pair's
    similarity, calibrated same-person probability and verdict (as :func:`compare` gives them:
    for the pair's smaller face width), and how the resemblance divides among
    the candidates (a softmax at the ranking temperature
    :data:`lookalike.answer.heads.DEFAULT_SCALE`, the one a gallery or a one-photo-per-person
    model ranks people with). ``comparer``: a :class:`~lookalike.answer.comparison.Comparer`
    to use (default: the shared one of ``embedder``)."""
    from lookalike.answer.heads import DEFAULT_SCALE, softmax

    c = comparer if comparer is not None else shared(embedder)
    sources = [photo, *others]
    labels = list(names) if names else [_label(s, f"photo {k + 1}")
                                        for k, s in enumerate(sources)]
    found = []
    for src, label in zip(sources, labels, strict=True):
        res = c.analyze(src, label)
        if not res.faces:
            raise NoFaceError("no face found", label, "try a photo where the face is "
                              "visible, upright and not too small")
        found.append((src, label, res))
    q = found[0][2]
    sims = np.array([float(np.clip(q.embeddings[0] @ r.embeddings[0], -1, 1))
                     for _, _, r in found[1:]])
    shares = softmax(DEFAULT_SCALE * sims[None])[0]
    order = np.argsort(-sims, kind="stable")
    ranked = [found[1 + i] for i in order]  # (source, label, analysis), most alike first
    cands = []
    for i, (_, label, res) in zip(order, ranked, strict=True):
        # the same size-aware rule as compare's two photos: the smaller face's width
        width = min(q.faces[0].box[2], res.faces[0].box[2])
        threshold = c.threshold_for(width)
        cands.append(Candidate(label, float(sims[i]), float(shares[i]),
                               same_person_probability(sims[i], c.embedder, width),
                               bool(sims[i] >= threshold), res.faces[0], threshold=threshold))
    if why:
        ex = explainer_for(c.pipeline.embedder)
        rgb, face = photo_view(photo, q.faces[0], q.image_size, labels[0])
        va = ex.view(rgb, face)
        views = [ex.view(*photo_view(src, res.faces[0], res.image_size, label))
                 for src, label, res in ranked]
        bases = [res.embeddings[0] for _, _, res in ranked] if ex.sface else None
        whys = ex.explain_many(va, views, q.embeddings[0] if ex.sface else None, bases)
        for cand, why in zip(cands, whys, strict=True):
            cand.why = why
    return ManyComparison(labels[0], q.faces[0], cands, c.embedder, c.threshold,
                          DEFAULT_SCALE,
                          [res.thumbs[0] if res.thumbs else b"" for _, _, res in ranked],
                          q.thumbs[0] if q.thumbs else b"")


__all__ = ["Candidate", "ManyComparison", "compare_many", "explain", "explain_result",
           "photo_view", "thumb_view"]
