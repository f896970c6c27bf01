"""One photo through the face path: decode → detect → embed, cached by file content."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.cache import ArrayCache
from lookalike.face.choose import choose_order, order_indices
from lookalike.face.detector import Face, FaceDetector, align, whole_image_face
from lookalike.face.embedders import (
    ComboEmbedder,
    Embedder,
    SFaceEmbedder,
    get_embedder,
    l2_normalize,
    made_precision,
)
from lookalike.photos.images import PhotoSource, content_hash, decode_photo, read_bytes

#: Photos are decoded with at least DECODE_SIDE pixels on their longer side (when they have
#: them; enough for faces down to ~30 px in a group shot) and at most DECODE_MAX_SIDE. Big JPEGs
#: decode once, at the cheapest draft scale (1/2, 1/4, 1/8) that keeps DECODE_SIDE, and are used
#: as decoded (a 12 MP photo at 1/2 scale, 2000×1500: its entropy decoding costs nearly as much
#: at 1/4, and a second, finer decode when the face was small, or resizing 2000 → 1600, cost
#: more than they saved); other formats above DECODE_MAX_SIDE are scaled down to it.
DECODE_SIDE = 1200
DECODE_MAX_SIDE = 2400
#: Faces kept per photo, most prominent first: a class or team photo. Each costs one embedding
#: (~40 ms of CPU) when every face is wanted; ``predict`` embeds only the first by default.
MAX_FACES = 32


def decode_for_faces(data: bytes, name: str | Path | None = None
                     ) -> tuple[np.ndarray, tuple[int, int]]:
    """A photo decoded as the face path decodes it, and its full ``(width, height)``."""
    return decode_photo(data, max_side=DECODE_MAX_SIDE, draft_side=DECODE_SIDE, name=name)


@dataclass
class PhotoFaces:
    """What the face path found in one photo. Faces are most prominent first, in the pixels of
    the whole photo (after EXIF orientation), whose size is ``image_size``; ``image`` (with
    ``keep_image``) is the photo as decoded, at most ``DECODE_MAX_SIDE`` on its longer side."""

    faces: list[Face]
    embeddings: np.ndarray  # (len(faces), dim), L2-normalised
    image_size: tuple[int, int]  # (width, height) of the decoded photo
    digest: str
    #: JPEG of each aligned face (96 px); with ``first_only``, made when first read
    thumbs: Sequence[bytes] = field(default_factory=list)
    image: np.ndarray | None = None  # the decoded photo, when it was decoded (not from cache)
    #: Faces detected; more than ``len(faces)`` after ``analyze(..., first_only=True)``.
    n_detected: int | None = None

    @property
    def n_faces(self) -> int:
        return len(self.faces) if self.n_detected is None else self.n_detected

    def __len__(self) -> int:
        return len(self.faces)


class FacePipeline:
    """Detector + embedder + cache. ``crops=True``: photos are hand-cropped faces; when no face
    is detected the whole image is used instead of reporting 'no face'."""

    def __init__(
        self,
        embedder: str | Embedder = "sface",
        *,
        crops: bool = False,
        max_faces: int = MAX_FACES,
        detector: FaceDetector | None = None,
        cache: ArrayCache | None | bool = True,
    ):
        self.embedder = get_embedder(embedder) if isinstance(embedder, str) else embedder
        self.detector = detector or FaceDetector()
        self.crops = crops
        self.max_faces = max_faces
        if cache is True:
            cache = ArrayCache()
        self.cache: ArrayCache | None = cache or None

    @property
    def _quality(self):
        """The face-quality measure for the face choice from this pipeline's own SFace (alone
        or in a combination), so a second copy is not loaded; None: choose's shared one."""
        parts = self.embedder.parts if isinstance(self.embedder, ComboEmbedder) else [
            self.embedder]
        return next((p.feature_norms for p in parts if isinstance(p, SFaceEmbedder)), None)

    @property
    def key(self) -> str:
        return (f"{self.detector.key}|{self.embedder.name}-{self.embedder.version}"
                f"|crops={int(self.crops)}|max={self.max_faces}"
                f"|d={DECODE_SIDE}-{DECODE_MAX_SIDE}")

    def analyze(self, source: PhotoSource, *, name: str | Path | None = None,
                keep_image: bool = False, first_only: bool = False) -> PhotoFaces:
        """Faces and their embeddings for one photo. Raises :class:`ImageError` for a file
        that is not a readable photo; a photo without faces gives an empty result.

        ``first_only``: embed only the most prominent face (the embedder is most of the cost;
        a cached full analysis is used when there is one, a partial one is not cached)."""
        label = name if name is not None else (None if isinstance(source, bytes) else source)
        data = read_bytes(source) if not isinstance(source, bytes) else source
        digest = content_hash(data)
        key = f"{digest}|{self.key}"
        if self.cache is not None and not keep_image:
            hit = self.cache.get(key)
            if hit is not None:
                result = _from_arrays(hit, digest)
                return _first(result) if first_only else result
        rgb, full = decode_for_faces(data, label)
        result = self.analyze_array(rgb, digest=digest, first_only=first_only)
        if full != result.image_size:  # decoded smaller: report boxes in the photo's pixels
            k = full[0] / rgb.shape[1]
            result.faces = [f.scaled(k) for f in result.faces]
            result.image_size = full
        if self.cache is not None and not first_only:
            self.cache.put(key, _to_arrays(result))
        if not keep_image:
            result.image = None
        return result

    def analyze_array(self, rgb: np.ndarray, digest: str = "", first_only: bool = False,
                      faces: list[Face] | None = None) -> PhotoFaces:
        h, w = rgb.shape[:2]
        if faces is None:
            faces = self.detector.detect(rgb)[: self.max_faces]
        # boxes inside the photo (the detector's own box stays in extra["raw_box"]), in the
        # order of the face choice (choose.order_faces: the answer is the first)
        raw: dict[bytes, np.ndarray] = {}  # SFace's raw vectors of the measured contenders
        faces = choose_order(rgb, [f.clipped((w, h)) for f in faces
                                   if box_in_image(f, rgb.shape)], self._measure(raw),
                             first_only)
        if not faces and self.crops:
            faces = [whole_image_face(rgb.shape)]
        n_detected = len(faces)
        if first_only:
            faces = faces[:1]
        # embedders see the detector's boxes (dlib fits its landmarks inside them)
        embeddings = self._embed(rgb, [f.unclipped() for f in faces], raw)
        # one face: its thumbnail is made when something shows it (predict does not)
        thumbs: Sequence[bytes] = (Thumbnails(rgb, faces) if first_only
                                   else [face_thumbnail(rgb, f) for f in faces])
        return PhotoFaces(faces, embeddings, (w, h), digest, thumbs, rgb, n_detected)

    def _sface(self) -> SFaceEmbedder | None:
        """The embedder, when it is a plain SFace whose raw vectors are the quality measure's."""
        e = self.embedder
        return e if isinstance(e, SFaceEmbedder) and not e.flip_test else None

    def _measure(self, raw: dict[bytes, np.ndarray]):
        """The face choice's quality measure; with a plain SFace embedder it keeps each
        measured face's raw vector in ``raw``, so the chosen face is not run twice."""
        sface = self._sface()
        if sface is None:
            return self._quality

        def quality(rgb: np.ndarray, faces: Sequence[Face]) -> list[float]:
            vecs = sface.features(rgb, faces)
            for f, v in zip(faces, vecs, strict=True):
                raw[_landmark_key(f)] = v
            return [float(n) for n in np.linalg.norm(vecs, axis=1)]

        return quality

    def _embed(self, rgb: np.ndarray, faces: list[Face], raw: dict[bytes, np.ndarray]
               ) -> np.ndarray:
        sface = self._sface()
        if sface is None or not raw or not faces:
            return self.embedder.embed(rgb, faces)
        keys = [_landmark_key(f) for f in faces]
        todo = [f for f, k in zip(faces, keys, strict=True) if k not in raw]
        for f, v in zip(todo, sface.features(rgb, todo), strict=True):
            raw[_landmark_key(f)] = v
        return l2_normalize(np.stack([raw[k] for k in keys]))


def _landmark_key(face: Face) -> bytes:
    """SFace's crop depends on the landmarks only."""
    return np.asarray(face.landmarks, np.float32).tobytes()


class Thumbnails(Sequence[bytes]):
    """The thumbnails of ``faces``, made on first use (then the photo is let go)."""

    def __init__(self, rgb: np.ndarray, faces: Sequence[Face]):
        self._source: tuple[np.ndarray, Sequence[Face]] | None = (rgb, list(faces))
        self._n = len(faces)
        self._made: list[bytes] = []

    def _all(self) -> list[bytes]:
        if self._source is not None:
            rgb, faces = self._source
            self._made = [face_thumbnail(rgb, f) for f in faces]
            self._source = None
        return self._made

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):  # type: ignore[override]
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == (list(other) if isinstance(other, Sequence) else other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):  # sent to another process (a Dask worker's answer): the JPEGs only
        return list, (self._all(),)


def box_in_image(face: Face, shape: tuple[int, ...]) -> bool:
    """A detection whose centre lies in the image and whose box is not many times its size.
    (On degenerate pictures, e.g. a 4000×20 strip, the detector's retries can return boxes
    millions of pixels wide.)"""
    h, w = shape[:2]
    x, y, bw, bh = face.box
    return (0 <= x + bw / 2 <= w and 0 <= y + bh / 2 <= h
            and 0 < bw <= 2 * max(w, h) and 0 < bh <= 2 * max(w, h))


def pipeline_for(embedder: dict, crops: bool = False) -> FacePipeline:
    """The pipeline a saved model or gallery was built with. Raises :class:`ValueError` naming
    both versions when this installation's embedder differs (its vectors would not compare)."""
    pipe = FacePipeline(get_embedder(embedder["name"], made_precision(str(embedder["version"]))),
                        crops=crops)
    have = f"{pipe.embedder.name}-{pipe.embedder.version}"
    if have != f"{embedder['name']}-{embedder['version']}":
        hint = ""
        made, now = str(embedder["version"]), str(pipe.embedder.version)
        if made.split("+")[0] == now.split("+")[0]:  # the same weights at another precision
            want = next((p for p in ("bf16", "int8") if f"+{p}" in made), "f32")
            hint = (f" (its vectors were computed at {want} precision: run with "
                    f"LOOKALIKE_PRECISION={want}, or retrain it)")
        raise ValueError(f"embedder {embedder['name']} {embedder['version']}, this "
                         f"installation has {have}{hint}")
    return pipe


def _first(p: PhotoFaces) -> PhotoFaces:
    return PhotoFaces(p.faces[:1], p.embeddings[:1], p.image_size, p.digest, p.thumbs[:1],
                      p.image, len(p.faces))


def _to_arrays(p: PhotoFaces) -> dict[str, np.ndarray]:
    n = len(p.faces)
    return {
        "boxes": np.array([f.box for f in p.faces], np.float32).reshape(n, 4),
        "landmarks": np.array([f.landmarks for f in p.faces], np.float32).reshape(n, 5, 2),
        "scores": np.array([f.score for f in p.faces], np.float32),
        "synthetic": np.array([f.synthetic for f in p.faces], bool),
        "quality": np.array([f.extra.get("quality", np.nan) for f in p.faces], np.float32),
        "embeddings": np.asarray(p.embeddings, np.float32),
        "size": np.array(p.image_size, np.int64),
        "thumb_data": np.frombuffer(b"".join(p.thumbs), np.uint8),
        "thumb_ends": np.cumsum([len(t) for t in p.thumbs], dtype=np.int64),
    }


def _from_arrays(a: dict[str, np.ndarray], digest: str) -> PhotoFaces:
    quality = a["quality"] if "quality" in a else np.full(len(a["scores"]), np.nan)
    faces = [
        Face(tuple(float(v) for v in a["boxes"][i]), a["landmarks"][i], float(a["scores"][i]),
             bool(a["synthetic"][i]),
             {} if not np.isfinite(quality[i]) else {"quality": float(quality[i])})
        for i in range(len(a["scores"]))
    ]
    size = (int(a["size"][0]), int(a["size"][1]))
    data, ends = a["thumb_data"].tobytes(), a["thumb_ends"]
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    thumbs = [data[s:e] for s, e in zip(starts, ends, strict=True)] if len(ends) else []
    # Boxes inside the photo and the faces in the order of *today's* face choice (a pure
    # function of the stored boxes, landmarks and scores, so entries cached under an earlier
    # rule stay valid; a stable sort keeps ties in place).
    faces = [f.clipped(size) for f in faces]
    order = order_indices(faces, size)
    return PhotoFaces([faces[i] for i in order], a["embeddings"][order], size, digest,
                      [thumbs[i] for i in order] if len(thumbs) == len(faces) else thumbs)


THUMB_SIZE = 96


def face_thumbnail(rgb: np.ndarray, face: Face, size: int = THUMB_SIZE) -> bytes:
    """A small aligned JPEG of the face with some context, for cards and reports."""
    import cv2

    crop = align(rgb, face, size=size, margin=0.15)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 88])
    return buf.tobytes() if ok else b""
