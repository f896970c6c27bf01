"""One photo through the face path: decode → detect → embed, cached by file content."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lookalike.cache import ArrayCache
from lookalike.face.choose import choose_order, measure_quality
from lookalike.face.detector import FaceDetector
from lookalike.face.embedders import (
    ComboEmbedder,
    Embedder,
    SFaceEmbedder,
    get_embedder,
    l2_normalize,
    made_precision,
)
from lookalike.face.pixels import (  # noqa: F401 - decode_for_faces: its old home
    DECODE_MAX_SIDE,
    DECODE_SIDE,
    EYES_NEED,
    Pixels,
    decode_for_detector,  # noqa: F401
    decode_for_faces,
)
from lookalike.face.record import (  # noqa: F401 - box_in_image: its old home
    Face,
    align,
    align_all,
    box_in_image,
    inside,
    scaled,
    whole_image_face,
)
from lookalike.photos.images import PhotoSource, read_photo, read_photo_aside

#: Faces kept per photo, most prominent first: a class or team photo. Each costs one embedding
#: (~40 ms of CPU) when every face is wanted; ``predict`` embeds only the first by default.
MAX_FACES = 32


@dataclass
class PhotoFaces:
    """What the face path found in one photo: its faces, most prominent first, each a
    :class:`~lookalike.face.record.Face` with its embedding (and thumbnail, made when first
    read after a first-face analysis), in the pixels of the whole photo (after EXIF
    orientation), whose size is ``image_size``; ``image`` (with ``keep_image``) is the photo as
    decoded, at most ``DECODE_MAX_SIDE`` on its longer side, ``image_scale`` its size over
    the photo's (face boxes times it are in its pixels)."""

    faces: list[Face]
    image_size: tuple[int, int]  # (width, height) of the photo
    digest: str
    image: np.ndarray | None = None  # the decoded photo (``keep_image``)
    #: Faces detected; more than ``len(faces)`` after ``analyze(..., first_only=True)``.
    n_detected: int | None = None
    dim: int = 0  # the embedding's length (the shape of ``embeddings`` without faces)
    image_scale: float = 1.0
    #: The decoded photo and the faces (in its pixels), for thumbnails not made yet.
    _pending: tuple[Pixels, list[Face]] | None = field(default=None, repr=False,
                                                       compare=False)
    #: Faces in the photo: ``n_detected``, else ``len(faces)`` (a plain attribute).
    n_faces: int = field(init=False, default=0)
    #: ``(len(faces), dim)`` float32, L2-normalised: the faces' embeddings, stacked from the
    #: records when the analysis is made (a plain attribute).
    embeddings: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.n_faces = len(self.faces) if self.n_detected is None else self.n_detected
        self.embeddings = (np.stack([f.embedding for f in self.faces]).astype(
            np.float32, copy=False) if self.faces else np.zeros((0, self.dim), np.float32))

    @property
    def thumbs(self) -> list[bytes]:
        """A 96 px JPEG of each face (made on first read after a first-face analysis)."""
        if self._pending is not None:
            pixels, faces = self._pending
            todo = [i for i, f in enumerate(self.faces) if f.thumbnail is None]
            if todo:
                jpegs = pixels.read_rows([faces[i] for i in todo], face_thumbnails)
                for i, jpeg in zip(todo, jpegs, strict=True):
                    self.faces[i].thumbnail = jpeg
            self._pending = None
        return [f.thumbnail for f in self.faces if f.thumbnail is not None]

    def first(self) -> PhotoFaces:
        """The first face's analysis (``n_detected`` still counts every face)."""
        pending = None if self._pending is None else (self._pending[0], self._pending[1][:1])
        return replace(self, faces=self.faces[:1], n_detected=self.n_faces, _pending=pending)

    def __len__(self) -> int:
        return len(self.faces)

    def __getstate__(self) -> dict:  # sent to another process: the JPEGs, not the photo
        self.thumbs  # noqa: B018 - makes what is pending
        return dict(self.__dict__)


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
    def _parts(self) -> list[Embedder]:
        """The embedders this pipeline runs (a combination's parts, else its one)."""
        e = self.embedder
        return list(e.parts) if isinstance(e, ComboEmbedder) else [e]

    @property
    def _quality(self):
        """The face-quality measure for the face choice from this pipeline's own SFace (alone
        or in a combination), so a second copy is not loaded; None: choose's shared one."""
        return next((p.feature_norms for p in self._parts if isinstance(p, SFaceEmbedder)),
                    None)

    def lanes(self, photos: int) -> int:
        """How many of ``photos`` to analyse at once (:mod:`lookalike.runtime.lanes`): side by
        side where every network is an OpenVINO one (YuNet and SFace; dlib computes holding
        Python's lock, so a dlib embedder goes one photo at a time)."""
        from lookalike.runtime.lanes import lanes_for

        parts = self._parts
        if not all(isinstance(p, SFaceEmbedder) for p in parts):
            return 1
        return min(lanes_for(photos, p.backend) for p in parts)

    @property
    def key(self) -> str:
        """What the cached analyses depend on (``rec=2``: faces stored in the face choice's
        order with their raw boxes, read back as stored; older entries miss)."""
        return (f"{self.detector.key}|{self.embedder.name}-{self.embedder.version}"
                f"|crops={int(self.crops)}|max={self.max_faces}"
                f"|d={self.detector.max_side}/{DECODE_SIDE}-{DECODE_MAX_SIDE}/e{EYES_NEED:g}"
                f"|rec=2")

    def analyze(self, source: PhotoSource, *, name: str | Path | None = None,
                keep_image: bool = False, first_only: bool = False,
                digest: str | None = None) -> PhotoFaces:
        """Faces and their embeddings for one photo. Raises :class:`ImageError` for a file
        that is not a readable photo; a photo without faces gives an empty result.

        ``first_only``: embed only the most prominent face (the embedder is most of the cost;
        a cached full analysis is used when there is one, a partial one is not cached).
        ``keep_image``: the decoded photo stays in the answer (``image``, for a card); a cached
        analysis then costs the decode alone. ``digest``: the content hash of ``source`` when
        the caller has it already (:mod:`lookalike.face.many` reads and hashes each photo once)."""
        label = name if name is not None else (None if isinstance(source, bytes) else source)
        cache = self.cache if self.cache is not None and self.cache.enabled else None
        digest_of = None
        if cache is None and digest is None:  # nothing to look up: hashed beside the decode
            data, digest_of = read_photo_aside(source)
        else:
            data, digest = read_photo(source, digest)
        key = f"{digest}|{self.key}" if cache is not None else ""  # none: no key, no look-up
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            result = _from_arrays(hit, digest, self.embedder.dim)
            if keep_image:  # to draw it: the detector's decode is fine enough
                px = Pixels.decode(data, self.detector.max_side, label)
                result.image, result.image_scale = px.rgb, px.rgb.shape[1] / px.full[0]
            return result.first() if first_only else result
        # at the detector's scale; small faces are read from a finer decode made for them
        pixels = Pixels.decode(data, self.detector.max_side, label)
        result = self._analyze(pixels, digest or "", first_only)
        if digest_of is not None:
            result.digest = digest_of()
        full = pixels.full
        if full != result.image_size:  # decoded smaller: report boxes in the photo's pixels
            k = full[0] / result.image_size[0]
            result.faces = scaled(result.faces, k)
            result.image_size, result.image_scale = full, 1.0 / k
        if cache is not None and not first_only:
            cache.put(key, _to_arrays(result))
        if not keep_image:
            result.image = None
        return result

    def analyze_array(self, rgb: np.ndarray, digest: str = "", first_only: bool = False,
                      faces: list[Face] | None = None,
                      finer: Callable[[], np.ndarray] | None = None) -> PhotoFaces:
        """The faces of a decoded photo, found (or ``faces``, in its pixels), ordered once
        (:func:`lookalike.face.choose.choose_order`) and embedded. ``finer``: decodes the
        photo finer, for faces too small in ``rgb`` (:class:`~lookalike.face.pixels.Pixels`)
        and for a second look when the detector finds nothing at its scale."""
        return self._analyze(Pixels(rgb, finer), digest, first_only, faces)

    def _analyze(self, pixels: Pixels, digest: str, first_only: bool,
                 faces: list[Face] | None = None) -> PhotoFaces:
        # boxes inside the photo (the detector's own box stays in raw_box)
        if faces is not None:  # the caller's faces: copies are filled in
            faces = [replace(f) for f in inside(faces, pixels.rgb.shape)]
        else:
            faces = self.detector.find(pixels.rgb, when_none=not pixels.refinable)
            if not faces and pixels.refinable:  # every retry, in the finer pixels
                pixels = pixels.refined()
                faces = self.detector.find(pixels.rgb)
        rgb = pixels.rgb
        h, w = rgb.shape[:2]
        raw: dict[bytes, np.ndarray] = {}  # SFace's raw vectors of the measured contenders
        faces = choose_order(rgb, faces, self._measure(raw, pixels), first_only,
                             self.max_faces)
        if not faces and self.crops:
            faces = [whole_image_face(rgb.shape)]
        n_detected = len(faces)
        if first_only:
            faces = faces[:1]
        # the records are this analysis's own (the detector's, the choice's, or copies of
        # the caller's): each stage fills its part in; a full analysis (cached and kept)
        # gets its thumbnails from the same read of the pixels as its vectors, a first-face
        # answer when something shows it
        vectors, thumbs = self._embed(pixels, faces, raw, thumbs=not first_only)
        for i, f in enumerate(faces):
            f.embedding = vectors[i]
            if thumbs is not None:
                f.thumbnail = thumbs[i]
        result = PhotoFaces(faces, (w, h), digest, rgb, n_detected, self.embedder.dim)
        if thumbs is None:
            result._pending = (pixels, list(faces))
        return result

    def _sface(self) -> SFaceEmbedder | None:
        """The embedder, when it is a plain SFace whose raw vectors are the quality measure's."""
        e = self.embedder
        return e if isinstance(e, SFaceEmbedder) and not e.flip_test else None

    def _measure(self, raw: dict[bytes, np.ndarray], pixels: Pixels):
        """The face choice's quality measure, each face read from the pixels it needs; with
        a plain SFace embedder it keeps each measured face's raw vector in ``raw``, so the
        chosen face is not run twice."""
        sface = self._sface()
        if sface is None:
            measure = self._quality or measure_quality
            # (a measure may read the box: the detector's own, as the embedders get it)
            return lambda rgb, faces: [float(q) for q in pixels.read(_unclipped(faces),
                                                                      measure)]

        def quality(rgb: np.ndarray, faces: Sequence[Face]) -> list[float]:
            vecs = pixels.read(faces, sface.features)
            for f, v in zip(faces, vecs, strict=True):
                raw[_landmark_key(f)] = v
            return [float(n) for n in np.linalg.norm(vecs, axis=1)]

        return quality

    def _embed(self, pixels: Pixels, faces: list[Face], raw: dict[bytes, np.ndarray],
               thumbs: bool = False) -> tuple[np.ndarray, list[bytes] | None]:
        """The faces' vectors and, with ``thumbs``, their thumbnails, each face read from the
        pixels it needs (:meth:`Pixels.groups`, one call); with a plain SFace the vectors of
        faces measured for the face choice (``raw``) are not computed again. Embedders see
        the detector's boxes (dlib fits its landmarks inside them): a face cut by the photo's
        border is read unclipped."""
        if not faces:
            return self.embedder.embed(pixels.rgb, faces), ([] if thumbs else None)
        sface = self._sface()
        keys = [_landmark_key(f) for f in faces] if sface is not None and raw else None
        need = [i for i in range(len(faces)) if keys is None or keys[i] not in raw]
        if keys is not None and not need and not thumbs:  # every vector measured already
            return l2_normalize(np.stack([raw[k] for k in keys])), None
        embed = self.embedder.embed if keys is None else sface.features  # type: ignore[union-attr]
        vecs: list = [None] * len(faces)
        jpegs: list = [None] * len(faces)
        wanted = set(need)
        for img, idx, some in pixels.groups(faces):
            todo = [j for j, i in enumerate(idx) if i in wanted]
            if todo:
                for j, v in zip(todo, embed(img, _unclipped([some[j] for j in todo])),
                                strict=True):
                    vecs[idx[j]] = v
            if thumbs:
                for i, jpeg in zip(idx, face_thumbnails(img, some), strict=True):
                    jpegs[i] = jpeg
        if keys is None:
            out = np.asarray(vecs).astype(np.float32, copy=False)
        else:
            for i in need:
                raw[keys[i]] = vecs[i]
            out = l2_normalize(np.stack([raw[k] for k in keys]))
        return out, (jpegs if thumbs else None)


def _unclipped(faces: Sequence[Face]) -> list[Face]:
    """The faces with the detector's own boxes (:meth:`Face.unclipped`: only a face cut by
    the photo's border has another)."""
    return [f if f.raw_box is None else f.unclipped() for f in faces]


def _landmark_key(face: Face) -> bytes:
    """SFace's crop depends on the landmarks only."""
    return np.asarray(face.landmarks, np.float32).tobytes()


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


def _to_arrays(p: PhotoFaces) -> dict[str, np.ndarray]:
    n = len(p.faces)
    thumbs = p.thumbs
    return {
        "boxes": np.array([f.box for f in p.faces], np.float32).reshape(n, 4),
        "raw_boxes": np.array([f.raw_box or (np.nan,) * 4 for f in p.faces],
                              np.float32).reshape(n, 4),
        "landmarks": np.array([f.landmarks for f in p.faces], np.float32).reshape(n, 5, 2),
        "scores": np.array([f.score for f in p.faces], np.float32),
        "synthetic": np.array([f.synthetic for f in p.faces], bool),
        "rotated": np.array([f.rotated for f in p.faces], np.int16),
        "padded": np.array([f.padded for f in p.faces], bool),
        "quality": np.array([np.nan if f.quality is None else f.quality for f in p.faces],
                            np.float32),
        "embeddings": np.asarray(p.embeddings, np.float32).reshape(n, p.dim),
        "size": np.array(p.image_size, np.int64),
        "thumb_data": np.frombuffer(b"".join(thumbs), np.uint8),
        "thumb_ends": np.cumsum([len(t) for t in thumbs], dtype=np.int64),
    }


def _from_arrays(a: dict[str, np.ndarray], digest: str, dim: int = 0) -> PhotoFaces:
    """A cached analysis, its faces in the stored order (the face choice's, made once)."""
    n = len(a["scores"])
    data, ends = a["thumb_data"].tobytes(), a["thumb_ends"]
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    thumbs = ([data[s:e] for s, e in zip(starts, ends, strict=True)] if n and len(ends) == n
              else [None] * n)
    faces = []
    for i in range(n):
        raw, q = a["raw_boxes"][i], float(a["quality"][i])
        faces.append(Face(
            tuple(float(v) for v in a["boxes"][i]), a["landmarks"][i], float(a["scores"][i]),
            bool(a["synthetic"][i]),
            raw_box=tuple(float(v) for v in raw) if np.isfinite(raw).all() else None,
            rotated=int(a["rotated"][i]), padded=bool(a["padded"][i]),
            quality=q if np.isfinite(q) else None, embedding=a["embeddings"][i],
            thumbnail=thumbs[i]))
    size = (int(a["size"][0]), int(a["size"][1]))
    return PhotoFaces(faces, size, digest, dim=dim or int(a["embeddings"].shape[-1]))


THUMB_SIZE = 96


def face_thumbnail(rgb: np.ndarray, face: Face, size: int = THUMB_SIZE) -> bytes:
    """A small aligned JPEG of the face with some context, for cards and reports."""
    return face_thumbnails(rgb, [face], size)[0]


def face_thumbnails(rgb: np.ndarray, faces: Sequence[Face], size: int = THUMB_SIZE
                    ) -> list[bytes]:
    """:func:`face_thumbnail` of each face of a photo."""
    import cv2

    out = []
    for crop in align_all(rgb, faces, size=size, margin=0.15):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 88])
        out.append(buf.tobytes() if ok else b"")
    return out
