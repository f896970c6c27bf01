"""Faces in a photo: detection (YuNet through the runtime layer), landmarks, alignment.

No model is loaded at import time: :class:`FaceDetector` loads YuNet on first use.
"""

from __future__ import annotations

import threading

import numpy as np

from lookalike.face.choose import order_faces, prominence
from lookalike.face.record import (
    ARCFACE_TEMPLATE,
    Face,
    align,
    box_in_image,
    detections,
    inside,
    whole_image_face,
)
from lookalike.face.weights import bundled_model_dir, sface_path, yunet_path

__all__ = ["ARCFACE_TEMPLATE", "Face", "FaceDetector", "align", "box_in_image",
           "bundled_model_dir", "inside", "nms", "prominence", "sface_path", "shrink",
           "whole_image_face", "yunet_blob", "yunet_decode", "yunet_image", "yunet_path"]

#: Below this YuNet score (or with implausible landmarks) the best face may be a sideways face.
DOUBTFUL_SCORE = 0.88
#: A face found only in a turned copy of the photo must score at least this.
ROTATED_MIN_SCORE = 0.75
#: A detection scoring this high is taken as upright whatever its landmarks (a face in
#: profile has its eyes close together): the photo is not turned. On the wild validation
#: photos turned by 90°/270° YuNet's upright reading of the sideways face scored at most 0.891
#: (0.853 with a profile's landmarks; turned 180°: 0.873), the profiles that made 12 MP photos
#: run three turned copies 0.913-0.941 (bench/studies/speed/NOTES-tail.md).
UPRIGHT_SCORE = 0.9


def upright_landmarks(face: Face) -> bool:
    """Landmarks that look like an upright face: eyes apart, level-ish, above the mouth."""
    re, le, _, rm, lm = face.landmarks
    eye_vec = le - re
    eye_dist = float(np.hypot(*eye_vec))
    width = (face.raw_box or face.box)[2]  # the detector's own box (a face cut by the border)
    if eye_dist < 0.3 * max(width, 1.0):
        return False
    roll = abs(float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0]))))
    eyes_y, mouth_y = (re[1] + le[1]) / 2, (rm[1] + lm[1]) / 2
    return roll < 50 and mouth_y > eyes_y


def _rotate(rgb: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, k))


class FaceDetector:
    """YuNet face detector with fallbacks for tight crops and sideways photos.

    :meth:`find` gives the faces inside the photo in the detector's order; :meth:`detect` the
    detector's own boxes in the order of the face choice.
    """

    name = "yunet"
    version = "2023mar"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_side: int = 640,
        min_face: int = 12,
        try_harder: bool = True,
        backend: str | None = None,
        max_shapes: int = 4,
    ):
        self.backend = backend
        self.max_shapes = max_shapes
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.min_face = min_face
        self.try_harder = try_harder
        self._net = None
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        """Names what the detector finds. Both runtimes at f32 find the same boxes (within
        1e-4 px), so the backend is not part of it; another precision is. ``u0.9``: a face
        scoring :data:`UPRIGHT_SCORE` is not looked for in turned copies (analyses cached
        before that rule miss)."""
        from lookalike.runtime import precision_name

        precision = precision_name(self.backend, yunet_path())
        return (f"{self.name}-{self.version}:t{self.score_threshold}:n{self.nms_threshold}"
                f":m{self.max_side}:f{self.min_face}:h{int(self.try_harder)}:u{UPRIGHT_SCORE}"
                + ("" if precision == "f32" else f":{precision}"))

    def _network(self):
        if self._net is None:
            from lookalike.runtime import open_network

            with self._lock:
                if self._net is None:
                    self._net = open_network(yunet_path(), backend=self.backend,
                                             max_shapes=self.max_shapes, dynamic=True,
                                             rgb_images=True)
        return self._net

    def _detect_once(self, rgb: np.ndarray, max_side: int | None = None,
                     shape: tuple[int, ...] | None = None) -> list[Face]:
        """Run YuNet once, on a copy scaled so the longer side is at most ``max_side``; with
        ``shape`` (the photo's), the faces inside it, cut to it (:func:`detections`)."""
        h, w = rgb.shape[:2]
        scale = min(1.0, (max_side or self.max_side) / max(h, w))
        small = rgb if scale == 1.0 else shrink(rgb, scale)
        sx, sy = small.shape[1] / w, small.shape[0] / h
        outputs = self._network().run(yunet_image(small))
        rows = yunet_decode(outputs, small.shape[:2], self.score_threshold,
                            self.nms_threshold)
        return detections(rows, (sx, sy), self.min_face, shape)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces in an RGB image with the detector's own boxes (a face cut by the border
        has a box past it), in the order of the face choice
        (:func:`lookalike.face.choose.order_faces`). The face path calls :meth:`find` and
        orders once itself."""
        h, w = rgb.shape[:2]
        return order_faces(self._search(rgb, clip=False), (w, h))

    def find(self, rgb: np.ndarray, when_none: bool = True) -> list[Face]:
        """The faces in an RGB image, their boxes cut to it (the detector's own box kept as
        ``raw_box``; boxes not centred in it dropped), in the detector's order (best score
        first): what the face path orders once (:mod:`lookalike.face.choose`).
        ``when_none=False``: no retries when nothing is found (the caller will look again in
        a finer decode of the photo)."""
        return self._search(rgb, when_none)

    def _search(self, rgb: np.ndarray, when_none: bool = True, clip: bool = True
                ) -> list[Face]:
        """YuNet on the photo, retried where it finds nothing or doubts its best face.

        With ``try_harder`` (default): a photo without faces is retried with a border (hand-cut
        crops where the face fills the frame) and turned by 90°/270°/180° (phone photos without
        an EXIF orientation). YuNet also "finds" sideways faces with upright-looking but wrong
        landmarks, so a doubtful best face (low score or implausible landmarks) makes the
        detector compare orientations and keep the one whose best face scores highest; not
        when a face scores :data:`UPRIGHT_SCORE` (a sure face, in profile: its landmarks only
        look implausible). ``clip``: the faces inside the photo, cut to it (:func:`inside`).
        """
        h, w = rgb.shape[:2]
        shape = rgb.shape if clip else None
        faces = self._detect_once(rgb, shape=shape)
        if not faces and not when_none:
            return faces
        if self.try_harder:
            if not faces and max(h, w) > self.max_side:
                # small faces in a big photo: look again at up to twice the resolution
                faces = self._detect_once(rgb, max_side=2 * self.max_side, shape=shape)
            if not faces:
                faces = self._detect_padded(rgb)
                faces = faces if shape is None else inside(faces, shape)
            best = max((f.score for f in faces if upright_landmarks(f)), default=0.0)
            sure = max((f.score for f in faces), default=0.0) >= UPRIGHT_SCORE
            if best < DOUBTFUL_SCORE and not sure:
                for k in (1, 3, 2):
                    turned = self._detect_rotated(rgb, k)
                    turned = turned if shape is None else inside(turned, shape)
                    score = max((f.score for f in turned), default=0.0)
                    if score > best + 0.03:
                        faces, best = turned, score
        return faces

    def _detect_padded(self, rgb: np.ndarray) -> list[Face]:
        """Hand-cropped faces fill the frame, which YuNet misses: add a border and retry."""
        import cv2

        h, w = rgb.shape[:2]
        pad = int(0.35 * max(h, w))
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        faces = []
        for f in self._detect_once(padded):
            x, y, bw, bh = f.box
            faces.append(Face((x - pad, y - pad, bw, bh), f.landmarks - pad, f.score,
                              padded=True))
        return faces

    def _detect_rotated(self, rgb: np.ndarray, k: int) -> list[Face]:
        h, w = rgb.shape[:2]
        faces = []
        for f in self._detect_once(_rotate(rgb, k)):
            # turning a photo invites false faces (a cat, a mug): upright landmarks and a
            # higher score in the turned frame are required
            if not upright_landmarks(f) or f.score < ROTATED_MIN_SCORE:
                continue
            x, y, bw, bh = f.box
            corners = np.array([[x, y], [x + bw, y], [x, y + bh], [x + bw, y + bh]], np.float32)
            back = _unrotate_points_exact(corners, k, (h, w))
            lm = _unrotate_points_exact(f.landmarks, k, (h, w))
            x0, y0 = back.min(axis=0)
            x1, y1 = back.max(axis=0)
            faces.append(Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), lm,
                              f.score, rotated=90 * k))
        return faces


#: YuNet's strides; its input sides must be multiples of the largest.
YUNET_STRIDES = (8, 16, 32)


def yunet_image(rgb: np.ndarray) -> np.ndarray:
    """YuNet's input as the detector's network takes it (``rgb_images``: the graph makes it
    BGR float NCHW): RGB uint8, zero-padded at the right and bottom to multiples of 32, a batch
    of one (NHWC). The same numbers as :func:`yunet_blob` once converted."""
    h, w = rgb.shape[:2]
    d = YUNET_STRIDES[-1]
    ph, pw = -(-h // d) * d, -(-w // d) * d
    if (ph, pw) == (h, w):
        return np.ascontiguousarray(rgb)[None]
    image = np.zeros((1, ph, pw, 3), np.uint8)
    image[0, :h, :w] = rgb
    return image


def yunet_blob(rgb: np.ndarray) -> np.ndarray:
    """YuNet's input for an RGB image, as OpenCV's ``FaceDetectorYN`` builds it: BGR, 0-255,
    zero-padded at the right and bottom to multiples of 32, NCHW float32 (:func:`yunet_image`
    converted as the network's graph converts it)."""
    from lookalike.runtime.opencv_net import bgr_blob

    return bgr_blob(yunet_image(rgb))


def yunet_decode(outputs: list[np.ndarray], shape: tuple[int, int], score_threshold: float,
                 nms_threshold: float, top_k: int = 5000) -> np.ndarray:
    """YuNet's raw outputs (cls, obj, bbox, kps per stride 8/16/32, in that order) decoded as
    OpenCV's ``FaceDetectorYN`` does: score = sqrt(cls * obj), boxes and 5 landmarks from the
    anchor-free priors of each stride, then non-maximum suppression. Rows of 15 numbers
    (x, y, w, h, 5 × (x, y), score), best first, in the pixels of an image of ``shape``
    (height, width) before padding."""
    d = YUNET_STRIDES[-1]
    pw = -(-shape[1] // d) * d
    n = len(YUNET_STRIDES)
    rows = []
    for i, stride in enumerate(YUNET_STRIDES):
        cols = pw // stride
        cls = np.clip(outputs[i].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[i + n].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        if not keep.size:
            continue
        bbox = outputs[i + 2 * n].reshape(-1, 4)[keep]
        kps = outputs[i + 3 * n].reshape(-1, 10)[keep]
        c = (keep % cols).astype(np.float32)
        r = (keep // cols).astype(np.float32)
        cx, cy = (c + bbox[:, 0]) * stride, (r + bbox[:, 1]) * stride
        bw, bh = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
        out = np.empty((keep.size, 15), np.float32)
        out[:, 0], out[:, 1], out[:, 2], out[:, 3] = cx - bw / 2, cy - bh / 2, bw, bh
        out[:, 4:14:2] = (kps[:, 0::2] + c[:, None]) * stride
        out[:, 5:14:2] = (kps[:, 1::2] + r[:, None]) * stride
        out[:, 14] = score[keep]
        rows.append(out)
    if not rows:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(rows)
    return faces[nms(faces[:, :4], faces[:, 14], nms_threshold, top_k)]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, top_k: int = 5000
        ) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first, as ``cv2.dnn.NMSBoxes``
    does it for integer boxes (x, y, w, h truncated to whole pixels): a box goes when its
    intersection over union with a kept box exceeds ``threshold``."""
    order = np.argsort(-scores, kind="stable")[:top_k]
    b = np.trunc(boxes[order]).astype(np.float64)
    x0, y0 = b[:, 0], b[:, 1]
    x1, y1 = x0 + b[:, 2], y0 + b[:, 3]
    area = np.maximum(b[:, 2], 0) * np.maximum(b[:, 3], 0)
    kept: list[int] = []
    alive = np.ones(len(order), bool)
    for i in range(len(order)):
        if not alive[i]:
            continue
        kept.append(i)
        iw = np.maximum(0.0, np.minimum(x1[i], x1) - np.maximum(x0[i], x0))
        ih = np.maximum(0.0, np.minimum(y1[i], y1) - np.maximum(y0[i], y0))
        inter = iw * ih
        union = area[i] + area - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        alive &= ~(iou > threshold)
        alive[i] = False
    return order[np.array(kept, dtype=np.int64)]


def shrink(rgb: np.ndarray, scale: float) -> np.ndarray:
    """``rgb`` scaled down by ``scale`` (< 1), anti-aliased: whole-pixel block averages for the
    integer part of the reduction (OpenCV's fast path; its area filter at a fractional ratio
    costs ~15× more: 19 ms against 1.2 ms for 2000×1500 → 640×480), then bilinear for the
    remaining factor below 2."""
    import cv2

    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    k = int(1.0 / scale)
    if k >= 2 and w >= 2 * k and h >= 2 * k:
        rgb = rgb[: h - h % k, : w - w % k]
        rgb = cv2.resize(rgb, (rgb.shape[1] // k, rgb.shape[0] // k),
                         interpolation=cv2.INTER_AREA)
    if (rgb.shape[1], rgb.shape[0]) == size:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


def _unrotate_points_exact(points: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """Map (x, y) points in ``np.rot90(img, k)`` back to ``img`` of shape (H, W)."""
    h, w = shape
    pts = np.asarray(points, dtype=np.float32).copy()
    k %= 4
    if k == 0:
        return pts
    xr, yr = pts[:, 0].copy(), pts[:, 1].copy()
    if k == 1:  # rot90 CCW: rotated (xr, yr) = (y, W-1-x)
        pts[:, 0], pts[:, 1] = (w - 1) - yr, xr
    elif k == 2:  # rotated (xr, yr) = (W-1-x, H-1-y)
        pts[:, 0], pts[:, 1] = (w - 1) - xr, (h - 1) - yr
    else:  # k == 3, rot90 CW: rotated (xr, yr) = (H-1-y, x)
        pts[:, 0], pts[:, 1] = yr, (h - 1) - xr
    return pts
