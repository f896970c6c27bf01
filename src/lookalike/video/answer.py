"""How each kind of model answers the faces of a video frame: detection without the photo
path's retries (a video's faces are upright; a frame without faces must stay cheap), then
the recognizer's own answer per face, and the fusion of a track's answers into one."""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lookalike.answer.ranking import FaceResult, combine, rank
from lookalike.errors import LookalikeError
from lookalike.face.detector import Face, FaceDetector
from lookalike.face.record import box_in_image


class Answering(Protocol):
    """What a video needs of a model (every kind of model has it: see
    :class:`lookalike.models.recognizer.Recognizer`): its people, its face pipeline (None
    for the article's CNN, which answers through ``predict_crops`` and ``crop`` instead),
    its kind, file and manifest. Named here so that video, below the models, does not
    import them."""

    labels: list[str]
    pipeline: Any
    kind: str
    path: str | Path | None
    manifest: dict


#: Faces smaller than this (pixels, shorter box side) are not followed: too small to answer.
MIN_FACE = 24
#: Detections scoring under this are not followed.
MIN_SCORE = 0.7
#: Detection near tracked faces: the region around a face (in face sizes on each side) and
#: the longer side it is detected at.
NEAR = 0.8
NEAR_SIDE = 256


class FrameAnswerer:
    """Detects faces in frames and answers them with ``recognizer``: through its embedder and
    ``face_results`` (embedding models, galleries) or its own crops and network (the article's
    CNN). ``vectors``: the answers come with an identity vector (an embedding), used to check
    that a track still follows the same person."""

    def __init__(self, recognizer: Answering):
        # a weak reference: the answerer is cached per recognizer (answerer_for)
        self.recognizer = weakref.proxy(recognizer)
        pipe = recognizer.pipeline
        if pipe is not None and hasattr(recognizer, "face_results"):
            self.embedder = pipe.embedder
            self.vectors = True
            self.same_person = float(getattr(self.embedder, "threshold", 0.3))
        elif hasattr(recognizer, "predict_crops") and hasattr(recognizer, "crop"):
            if recognizer.manifest.get("crops"):
                raise LookalikeError(
                    "was trained on hand-cropped face photos (--crops): it reads a whole photo "
                    "as one face, which a video frame is not", recognizer.path,
                    "train it on whole photos (without --crops) to answer videos")
            self.embedder = None
            self.vectors = False
            self.same_person = 0.0
        else:
            raise LookalikeError(f"a {recognizer.kind} model cannot answer video frames",
                                 recognizer.path, "use an embedding model or a gallery")
        self.detector = FaceDetector(try_harder=False)

    @property
    def labels(self) -> list[str]:
        """The recognizer's people now (a gallery's change while a live session runs)."""
        return list(self.recognizer.labels)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in a frame, largest first (no retries: turned copies, borders)."""
        h, w = rgb.shape[:2]
        faces = [f.clipped((w, h)) for f in self.detector.detect(rgb)
                 if f.score >= MIN_SCORE and min(f.box[2], f.box[3]) >= MIN_FACE
                 and box_in_image(f, rgb.shape)]
        return faces

    def detect_near(self, rgb: np.ndarray, boxes: list[tuple[float, float, float, float]]
                    ) -> list[Face]:
        """Faces near known boxes only: each box widened by ``NEAR`` face sizes on every side,
        detected at most ``NEAR_SIDE`` pixels wide (a face fills a good part of it), then
        duplicates from overlapping regions removed. A fraction of a whole-frame detection's
        cost when the only change in the picture is the tracked faces moving."""
        import cv2

        from lookalike.face.detector import nms

        h, w = rgb.shape[:2]
        found: list[Face] = []
        for x, y, bw, bh in boxes:
            # a square around the face, NEAR face sizes on each side, as a NEAR_SIDE² image
            # (one input shape: the runtime keeps it compiled)
            side = (1 + 2 * NEAR) * max(bw, bh)
            x0, y0 = int(round(x + bw / 2 - side / 2)), int(round(y + bh / 2 - side / 2))
            n = max(int(round(side)), MIN_FACE)
            crop = rgb[max(y0, 0): max(y0 + n, 0), max(x0, 0): max(x0 + n, 0)]
            if min(crop.shape[:2]) < MIN_FACE:
                continue
            crop = cv2.copyMakeBorder(crop, max(-y0, 0), n - crop.shape[0] - max(-y0, 0),
                                      max(-x0, 0), n - crop.shape[1] - max(-x0, 0),
                                      cv2.BORDER_CONSTANT)
            k = NEAR_SIDE / n
            crop = cv2.resize(crop, (NEAR_SIDE, NEAR_SIDE),
                              interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
            for f in self.detector._detect_once(crop):
                fx, fy, fw, fh = f.box
                if min(fx, fy) < 1 or max(fx + fw, fy + fh) > NEAR_SIDE - 1:
                    continue  # cut by the region: a face of another region, or a new face
                found.append(Face((fx / k + x0, fy / k + y0, fw / k, fh / k),
                                  f.landmarks / k + np.float32([x0, y0]), f.score))
        found = [f.clipped((w, h)) for f in found
                 if f.score >= MIN_SCORE and min(f.box[2], f.box[3]) >= MIN_FACE]
        if len(found) > 1:
            keep = nms(np.array([f.box for f in found]), np.array([f.score for f in found]),
                       0.3)
            found = [found[i] for i in keep]
        return found

    def answer(self, rgb: np.ndarray, faces: list[Face]
               ) -> list[tuple[FaceResult, np.ndarray | None]]:
        """The recognizer's answer for each face, with its identity vector (or None)."""
        if not faces:
            return []
        if self.embedder is not None:
            E = self.embedder.embed(rgb, [f.unclipped() for f in faces])
            results = self.recognizer.face_results(faces, E)
            return [(r, E[i]) for i, r in enumerate(results)]
        rec = self.recognizer
        P = rec.predict_crops(np.stack([rec.crop(rgb, f) for f in faces]))
        return [(FaceResult(f, rank(self.labels, p), False, None, p), None)
                for f, p in zip(faces, P, strict=True)]


_ANSWERERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_ANSWERERS_LOCK = threading.Lock()


def answerer_for(recognizer: Answering) -> FrameAnswerer:
    """The recognizer's :class:`FrameAnswerer`, made once (its detector network is compiled
    once for every clip and live session of a served model)."""
    with _ANSWERERS_LOCK:
        answerer = _ANSWERERS.get(recognizer)
        if answerer is None:
            answerer = _ANSWERERS[recognizer] = FrameAnswerer(recognizer)
        return answerer


def fuse(labels: list[str], answers: list[FaceResult], face: Face) -> FaceResult:
    """One answer for a track: its answers combined as ``--together`` combines photos
    (geometric mean of the probabilities), shown at ``face`` (the best view); "none of these"
    when most answers were; ``best_similarity``: the best similarity to the top person."""
    same = [a for a in answers if a.proba is not None and len(a.proba) == len(labels)]
    if not same:  # the people changed since (a gallery edited during a live session)
        last = answers[-1]
        return FaceResult(face, last.ranking, last.unknown, last.best_similarity, last.proba)
    verdict = combine(labels, same, len(same))
    assert verdict is not None
    where = {p: i for i, p in enumerate(labels)}
    proba = np.zeros(len(labels))
    for m in verdict.ranking:
        proba[where[m.person]] = m.probability
    # people none of the answers ranked (a gallery ranks its candidates only) are left out
    ranked = {m.person for a in same for m in a.ranking}
    ranking = [m for m in verdict.ranking if m.person in ranked]
    # each person's closest training photo: from the view most similar to it (for cards)
    closest: dict[str, tuple[float, int | None]] = {}
    for a in same:
        for m, idx in zip(a.ranking, a.nearest or [None] * len(a.ranking), strict=False):
            sim = -2.0 if m.similarity is None else m.similarity
            if m.person not in closest or sim > closest[m.person][0]:
                closest[m.person] = (sim, idx)
    nearest = [closest.get(m.person, (0.0, None))[1] for m in ranking]
    return FaceResult(face, ranking, verdict.unknown, ranking[0].similarity, proba, nearest)
