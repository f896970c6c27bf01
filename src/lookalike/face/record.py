"""One face of a photo, as a record each stage of the face path fills in.

The detector gives it a box, 5 landmarks and a score (and, for a face cut by the photo's
border, its own box beyond the border: ``raw_box``); the face choice
(:mod:`lookalike.face.choose`) its measured ``quality`` when faces contended; the embedder its
``embedding``; the pipeline its ``thumbnail`` when something shows it. Like insightface's
``Face``, one object travels through the stages instead of parallel lists kept aligned.

Geometry that belongs to a face alone lives here too: the ArcFace template and the aligned
crop (:func:`align`), the stand-in face of a hand-cropped photo, and which detections are
inside the photo (:func:`inside`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

#: The 5-point template (eyes, nose tip, mouth corners) of 112×112 ArcFace / SFace crops,
#: the same one OpenCV's ``FaceRecognizerSF.alignCrop`` uses.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32,
)

Box = tuple[float, float, float, float]


@dataclass
class Face:
    """One face in a photo, in the pixel coordinates of the decoded (EXIF-rotated) photo.

    ``landmarks`` are 5 (x, y) points: right eye, left eye, nose tip, right and left mouth
    corner (the subject's right/left, as YuNet reports them). ``synthetic`` is true when no face
    was detected and the whole image stands for the face (``crops`` mode).

    Filled in by later stages (None until then): ``raw_box`` the detector's own box when it
    ran past the photo's border (``box`` is cut to the photo; embedders read the raw one:
    :meth:`unclipped`), ``rotated`` / ``padded`` how the detector found it (in a turned copy
    of the photo, by degrees; with a border added), ``quality`` SFace's raw feature norm when
    the face contended for the answer, ``embedding`` its L2-normalised vector, ``thumbnail``
    a small JPEG for cards and reports. (The aligned crop is not kept: the embedder makes it
    inside its batched inference, and nothing reads it afterwards; :func:`align` makes one.)
    """

    box: Box
    landmarks: np.ndarray
    score: float
    synthetic: bool = False
    raw_box: Box | None = None
    rotated: int = 0
    padded: bool = False
    quality: float | None = None
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    thumbnail: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def area(self) -> float:
        return max(self.box[2], 0.0) * max(self.box[3], 0.0)

    @property
    def extra(self) -> dict:
        """The typed fields that the former ``extra`` dict held (read-only, for old callers:
        ``raw_box``, ``rotated``, ``padded``, ``quality`` when set)."""
        out: dict = {}
        if self.raw_box is not None:
            out["raw_box"] = self.raw_box
        if self.rotated:
            out["rotated"] = self.rotated
        if self.padded:
            out["padded"] = True
        if self.quality is not None:
            out["quality"] = self.quality
        return out

    def yunet_row(self) -> np.ndarray:
        """The 15-number row that OpenCV's ``alignCrop`` takes."""
        x, y, w, h = self.box
        return np.array([x, y, w, h, *self.landmarks.reshape(-1), self.score], dtype=np.float32)

    def scaled(self, factor: float) -> Face:
        """This face in the pixels of the photo scaled by ``factor`` (what depends on the
        face alone, its quality, embedding and thumbnail, stays)."""
        raw = None if self.raw_box is None else _scale_box(self.raw_box, factor)
        return replace(self, box=_scale_box(self.box, factor),
                       landmarks=self.landmarks * factor, raw_box=raw)

    def clipped(self, image_size: tuple[int, int]) -> Face:
        """This face with its box cut to the photo (``image_size`` = (width, height)); the
        detector's box, which may run past the border for a face cut by it, is kept in
        ``raw_box`` (embedders that read the box get it: :meth:`unclipped`)."""
        width, height = image_size
        x, y, w, h = self.box
        x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
        x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
        box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        if box == tuple(float(v) for v in self.box):
            return self
        raw = self.raw_box if self.raw_box is not None else tuple(float(v) for v in self.box)
        return replace(self, box=box, raw_box=raw)

    def unclipped(self) -> Face:
        """This face with the detector's own box (see :meth:`clipped`)."""
        if self.raw_box is None:
            return self
        return replace(self, box=tuple(self.raw_box), raw_box=None)

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 1) for v in self.box],
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "detection_score": round(float(self.score), 3),
        }


def scaled(faces: Iterable[Face], factor: float) -> list[Face]:
    """The faces in the pixels of the photo scaled by ``factor`` (:meth:`Face.scaled`), in one
    call for a photo's faces."""
    return [f.scaled(factor) for f in faces]


def to_dicts(faces: Iterable[Face]) -> list[dict]:
    """:meth:`Face.to_dict` of each face of a photo, in one call (a photo's answer)."""
    return [f.to_dict() for f in faces]


def _scale_box(box: Box, factor: float) -> Box:
    x, y, w, h = box
    return (x * factor, y * factor, w * factor, h * factor)


def box_in_image(face: Face, shape: tuple[int, ...]) -> bool:
    """A detection whose centre lies in the image and whose box is not many times its size.
    (On degenerate pictures, e.g. a 4000×20 strip, the detector's retries can return boxes
    millions of pixels wide.)"""
    h, w = shape[:2]
    x, y, bw, bh = face.box
    return (0 <= x + bw / 2 <= w and 0 <= y + bh / 2 <= h
            and 0 < bw <= 2 * max(w, h) and 0 < bh <= 2 * max(w, h))


def inside(faces: Iterable[Face], shape: tuple[int, ...]) -> list[Face]:
    """The detections that lie in an image of ``shape`` (:func:`box_in_image`), their boxes cut
    to it (:meth:`Face.clipped`)."""
    h, w = shape[:2]
    return [f.clipped((w, h)) for f in faces if box_in_image(f, shape)]


def detections(rows: np.ndarray, scale: tuple[float, float], min_face: float = 0.0,
               shape: tuple[int, ...] | None = None) -> list[Face]:
    """The faces of YuNet's decoded ``rows`` (x, y, w, h, 5 landmarks, score per row, in the
    pixels of a copy scaled by ``scale`` = (sx, sy)), in the photo's pixels, those smaller
    than ``min_face`` left out; with the photo's ``shape``, only the faces inside it, cut to
    it (:func:`inside`). A photo's detections become records in this one call."""
    sx, sy = scale
    faces: list[Face] = []
    for row in rows:
        x, y, bw, bh = (float(row[0]) / sx, float(row[1]) / sy, float(row[2]) / sx,
                        float(row[3]) / sy)
        if min(bw, bh) < min_face:
            continue
        landmarks = (row[4:14].reshape(5, 2) / np.array([sx, sy])).astype(np.float32)
        faces.append(Face((x, y, bw, bh), landmarks, float(row[14])))
    return faces if shape is None else inside(faces, shape)


def whole_image_face(shape: tuple[int, ...]) -> Face:
    """A stand-in face covering a hand-cropped photo: the template landmarks scaled to it."""
    h, w = shape[:2]
    side = min(h, w)
    ox, oy = (w - side) / 2, (h - side) / 2
    landmarks = ARCFACE_TEMPLATE / 112.0 * side + np.array([ox, oy], np.float32)
    return Face((float(ox), float(oy), float(side), float(side)), landmarks.astype(np.float32),
                0.0, synthetic=True)


@lru_cache(maxsize=8)
def aligned_template(size: int, margin: float) -> np.ndarray:
    """Where the 5 landmarks land in a ``size`` px aligned crop with ``margin`` around the
    ArcFace template (what :func:`align` maps a face onto)."""
    t = ARCFACE_TEMPLATE / 112.0
    t = (t - 0.5) / (1.0 + 2.0 * margin) + 0.5
    return (t * size).astype(np.float32)


def align_all(rgb: np.ndarray, faces: Iterable[Face], size: int = 112, margin: float = 0.0
              ) -> list[np.ndarray]:
    """:func:`align` for each face of a photo, in one call."""
    return [align(rgb, f, size, margin) for f in faces]


def align(rgb: np.ndarray, face: Face, size: int = 112, margin: float = 0.0) -> np.ndarray:
    """A size×size crop of the face, rotated and scaled so the 5 landmarks sit on the ArcFace
    template; ``margin`` widens the view (0.25 = a quarter of the face size on each side)."""
    import cv2

    matrix, _ = cv2.estimateAffinePartial2D(face.landmarks.astype(np.float32),
                                            aligned_template(size, margin), method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to the box
        x, y, w, h = face.box
        s = size / max(w, h, 1.0)
        matrix = np.array([[s, 0, -x * s], [0, s, -y * s]], np.float32)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
