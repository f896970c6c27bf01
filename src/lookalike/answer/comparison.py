"""Compare two faces: how alike are they, and is it the same person?

``lookalike.compare(a, b)`` takes two photos (paths, bytes or ``H×W×3`` RGB ``uint8`` arrays),
finds the face each photo is about (the same choice ``predict`` makes: the most prominent
plausible face), embeds both and answers with

- ``similarity``: the cosine of the two embeddings (-1…1; the number every surface shows);
- ``same_person``: ``similarity >= threshold``, the verdict; SFace's threshold depends on the
  faces' size (the smaller face's width): 0.34 up to 80 px (LFW's faces), 0.40 from 160 px
  (press and phone photos), in between interpolated — large faces of the same person are more
  alike, so the stricter threshold costs them little and turns away 5× fewer strangers of the
  same looks (BENCHMARKS.md, "Compare on real photos");
- ``probability``: a calibrated probability that the two faces are the same person — a
  logistic of the similarity and the faces' size (Platt scaling with a size term), fitted on
  LFW's 6,000 ``pairs.txt`` pairs and the wild development set's pairs (even prior odds, each
  set weighing half) by ``bench/studies/compare/bench_compare_wild.py``, which also measures its
  reliability
  on held-out folds (BENCHMARKS.md). The coefficients are constants in
  :mod:`lookalike.answer.verification`: nothing is fitted or read at run time;
- ``threshold`` and the two faces in the answer shape every surface uses.

A photo without a face raises :class:`~lookalike.errors.NoFaceError` naming it; a file that is
not a readable photo raises :class:`~lookalike.errors.ImageError`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import ImageError, NoFaceError, printable
from lookalike.face.detector import Face
from lookalike.schema import stamp

#: What ``compare`` takes for a photo.
CompareSource = str | Path | bytes | np.ndarray


@dataclass
class Comparison:
    """The answer of :func:`compare`."""

    similarity: float
    same_person: bool
    probability: float | None
    threshold: float
    faces: tuple[Face, Face]
    photos: tuple[str, str] = ("a", "b")
    image_sizes: tuple[tuple[int, int], tuple[int, int]] | None = None
    #: Faces found in each photo (the answer uses the most prominent one of each).
    n_faces: tuple[int, int] = (1, 1)
    embedder: str = "sface"
    #: The two aligned face crops SFace-style (JPEG bytes, 96 px), for cards and pages.
    thumbs: tuple[bytes, bytes] = field(default=(b"", b""), repr=False)
    #: Which parts of the faces make the likeness (:mod:`lookalike.answer.why`), with ``why=True``.
    why: Any = field(default=None, repr=False)

    def to_dict(self) -> dict:
        faces = []
        for k in range(2):
            d = self.faces[k].to_dict()
            d["photo"] = self.photos[k]
            d["image_size"] = list(self.image_sizes[k]) if self.image_sizes else None
            d["faces_in_photo"] = int(self.n_faces[k])
            faces.append(d)
        d = {
            "similarity": round(float(self.similarity), 4),
            "same_person": bool(self.same_person),
            # 4 decimals, never rounded to a certainty the logistic does not give
            "probability": None if self.probability is None
            else min(max(round(float(self.probability), 4), 0.0001), 0.9999),
            "threshold": round(float(self.threshold), 4),
            "embedder": self.embedder,
            "faces": faces,
        }
        if self.why is not None:
            d["why"] = self.why.to_dict()
        return stamp("compare", d)


#: Face sizes (the smaller face's box width, in its photo's pixels) between which the size
#: terms of the calibration are measured; outside, the nearest end is used.
SIZE_RANGE = (40.0, 300.0)
#: The face width at which the size terms are zero.
SIZE_REF = 100.0


def size_term(face_width: float | None) -> float:
    """``log2(w / 100)`` of the smaller face's width ``w``, clipped to :data:`SIZE_RANGE`; 0
    when unknown."""
    if face_width is None or not np.isfinite(face_width):
        return 0.0
    return float(np.log2(np.clip(float(face_width), *SIZE_RANGE) / SIZE_REF))


def same_person_probability(similarity: float, embedder: str = "sface",
                            face_width: float | None = None) -> float | None:
    """The calibrated probability that two faces with this cosine similarity are one person
    (even prior odds), or None when no calibration was fitted for ``embedder``.
    ``face_width``: the smaller face's width in pixels; where the fit has size terms (SFace:
    fitted on LFW's and the wild set's pairs), a larger face needs a higher similarity for
    the same probability, since the same person's larger faces are more alike."""
    from lookalike.answer.verification import PLATT

    fit = PLATT.get(embedder)
    if fit is None:
        return None
    s = float(similarity)
    z = fit["a"] * s + fit["b"] + (fit.get("c", 0.0) + fit.get("d", 0.0) * s) * size_term(
        face_width)
    return float(1.0 / (1.0 + np.exp(-z)))


def verdict_threshold(embedder: str, face_width: float | None = None) -> float | None:
    """The threshold of ``compare``'s verdict for ``embedder`` (None: the embedder's own).
    Where the fit has a large-face threshold (SFace), it applies from the larger of
    ``size_px`` on and ``threshold`` up to the smaller, in between it is interpolated in
    log2 of the smaller face's width (see README, "Compare two faces")."""
    from lookalike.answer.verification import PLATT

    fit = PLATT.get(embedder)
    if fit is None:
        return None
    small = fit.get("threshold")
    large = fit.get("threshold_large")
    if small is None or large is None or face_width is None:
        return small
    lo, hi = fit["size_px"]
    f = (np.log2(max(float(face_width), 1.0)) - np.log2(lo)) / (np.log2(hi) - np.log2(lo))
    return float(small + float(np.clip(f, 0.0, 1.0)) * (large - small))


class Comparer:
    """Compares photos with one face pipeline (detector + embedder + cache), loaded once.

    ``pipeline``: a :class:`~lookalike.face.pipeline.FacePipeline` to use (a served model's, say);
    else one is made for ``embedder``. ``threshold``: the verdict's threshold (default: the
    one fitted for the embedder in :mod:`lookalike.answer.verification`, else the embedder's own
    same-person threshold)."""

    def __init__(self, embedder: str = "sface", *, pipeline: Any = None,
                 threshold: float | None = None, cache: bool = True):
        if pipeline is None:
            from lookalike.face.pipeline import FacePipeline

            pipeline = FacePipeline(embedder, cache=cache)
        self.pipeline = pipeline
        self.embedder = pipeline.embedder.name
        #: A fixed threshold given by the caller (None: the fitted one for the faces' size).
        self.fixed_threshold = None if threshold is None else float(threshold)
        #: The verdict's threshold for faces of LFW's size (the fixed one when given).
        self.threshold = float(threshold if threshold is not None
                               else verdict_threshold(self.embedder)
                               or pipeline.embedder.threshold)

    def threshold_for(self, face_width: float | None) -> float:
        """The verdict's threshold for a pair whose smaller face is ``face_width`` wide."""
        if self.fixed_threshold is not None:
            return self.fixed_threshold
        return float(verdict_threshold(self.embedder, face_width) or self.threshold)

    def analyze(self, source: CompareSource, name: str | None = None):
        """The face path's answer for one photo (only its chosen face embedded)."""
        if isinstance(source, np.ndarray):
            rgb = _as_rgb(source, name)
            return self.pipeline.analyze_array(rgb, first_only=True)
        label = name if name is not None else (
            "<bytes>" if isinstance(source, bytes | bytearray | memoryview) else str(source))
        return self.pipeline.analyze(bytes(source) if isinstance(source, bytearray | memoryview)
                                     else source, name=label, first_only=True)

    def compare(self, a: CompareSource, b: CompareSource, *,
                names: tuple[str, str] | None = None, why: bool = False) -> Comparison:
        """``why``: also say which parts of the faces make the likeness (``.why``, from the
        faces and embeddings just found: nothing is analysed twice)."""
        labels = names or (_label(a, "a"), _label(b, "b"))
        found = []
        for src, label in zip((a, b), labels, strict=True):
            res = self.analyze(src, label)
            if not res.faces:
                raise NoFaceError("no face found", label, "try a photo where the face is "
                                  "visible, upright and not too small")
            found.append(res)
        ea, eb = found[0].embeddings[0], found[1].embeddings[0]
        sim = float(np.clip(np.dot(ea, eb), -1.0, 1.0))
        width = min(found[0].faces[0].box[2], found[1].faces[0].box[2])
        threshold = self.threshold_for(width)
        result = Comparison(
            similarity=sim,
            same_person=sim >= threshold,
            probability=same_person_probability(sim, self.embedder, width),
            threshold=threshold,
            faces=(found[0].faces[0], found[1].faces[0]),
            photos=(labels[0], labels[1]),
            image_sizes=(found[0].image_size, found[1].image_size),
            n_faces=(found[0].n_faces, found[1].n_faces),
            embedder=self.embedder,
            thumbs=(found[0].thumbs[0] if found[0].thumbs else b"",
                    found[1].thumbs[0] if found[1].thumbs else b""),
        )
        if why:
            result.why = self._why((a, b), labels, found)
        return result

    def _why(self, sources: tuple, labels: tuple[str, str], found: list) -> Any:
        """Which parts of the two faces found make their likeness (:mod:`lookalike.answer.why`)."""
        from lookalike.answer.why import explainer_for

        ex = explainer_for(self.pipeline.embedder)
        views = [ex.view(*photo_view(src, res.faces[0], res.image_size, label))
                 for src, label, res in zip(sources, labels, found, strict=True)]
        base = (found[0].embeddings[0], found[1].embeddings[0]) if ex.sface else None
        return ex.explain_views(views[0], views[1], base)


_COMPARERS: dict[str, Comparer] = {}
_LOCK = threading.Lock()


def comparer(embedder: str = "sface") -> Comparer:
    """One :class:`Comparer` per embedder for this process (models load once, on first use)."""
    with _LOCK:
        if embedder not in _COMPARERS:
            _COMPARERS[embedder] = Comparer(embedder)
        return _COMPARERS[embedder]


def compare(a: CompareSource, b: CompareSource, *, embedder: str = "sface",
            threshold: float | None = None, names: tuple[str, str] | None = None,
            why: bool = False) -> Comparison:
    """How alike are the faces in photos ``a`` and ``b``, and are they the same person?

    ``a``/``b``: paths, bytes, or ``H×W×3`` RGB ``uint8`` arrays. ``embedder``: ``sface``
    (default), ``dlib`` or ``sface+dlib``. ``threshold``: override the verdict's threshold.
    ``names``: labels of the two photos in the answer and in errors. ``why``: also say which
    parts of the faces make the likeness (``.why``, :mod:`lookalike.answer.why`)."""
    c = comparer(embedder)
    if threshold is not None:
        c = Comparer(pipeline=c.pipeline, threshold=threshold)
    return c.compare(a, b, names=names, why=why)


def photo_view(source: CompareSource, face: Face, image_size: tuple[int, int] | None = None,
               name: str | None = None) -> tuple[np.ndarray, Face]:
    """The photo as the face path decoded it, and ``face`` (in the photo's own pixels, whose
    size is ``image_size``) scaled to it: ``(rgb, face)``."""
    from lookalike.face.pipeline import decode_for_faces
    from lookalike.photos.images import read_bytes

    if isinstance(source, np.ndarray):
        return _as_rgb(source, name), face
    data = bytes(source) if isinstance(source, bytes | bytearray | memoryview) else read_bytes(
        source)
    rgb, full = decode_for_faces(data, name)
    k = rgb.shape[1] / float(full[0])
    return rgb, (face if abs(k - 1.0) < 1e-9 else face.scaled(k))


def _label(source: CompareSource, default: str) -> str:
    if isinstance(source, str | Path):
        return printable(source)
    return default


def _as_rgb(array: np.ndarray, name: str | None) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 16:
        raise ImageError(f"is an array of shape {a.shape}, not a photo", name or "array",
                         "pass an H×W×3 RGB uint8 array at least 16 pixels a side")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0
        a = np.clip(np.nan_to_num(a.astype(np.float32)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a[:, :, :3])


__all__ = ["Comparer", "Comparison", "compare", "comparer", "photo_view",
           "same_person_probability"]
