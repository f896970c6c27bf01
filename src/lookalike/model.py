"""The saved model: one file holding everything needed to answer, written atomically.

A model file is a zip archive with ``manifest.json`` (labels, embedder and its version, head
type, threshold, split, metrics, data fingerprint, lookalike version), ``arrays.npz`` (head
weights, training embeddings — no pickle anywhere) and ``thumbs/<i>.jpg`` (small aligned crops
of training faces, for cards). Other model types (the article's CNN) share the format and the
:class:`Recognizer` interface.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, files
from .errors import ImageError, LookalikeError, ModelError
from .heads import HEADS, Head
from .images import PhotoSource
from .ranking import FaceResult, PhotoResult, Verdict, combine, rank

FORMAT = "lookalike-model"
FORMAT_VERSION = 1


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """:func:`lookalike.files.atomic_write` for model files (errors are :class:`ModelError`):
    a crash or full disk leaves the previous model whole and no half-written file in its
    place; ``.*.lookalike-partial`` leftovers of a killed writer are deleted by the next."""
    return files.atomic_write(path, write, error=ModelError, example="-o people.lookalike",
                              point="model-save")


def read_archive(path: str | Path) -> tuple[dict, zipfile.ZipFile]:
    path = Path(path)
    if not path.exists():
        raise ModelError("model file not found", path, "train one with `lookalike train DATA -o "
                         f"{path.name}`")
    if path.is_dir():
        raise ModelError("is a folder, not a model file", path, "give the model file's path")
    try:
        zf = zipfile.ZipFile(path)
        manifest = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, zlib.error,
            NotImplementedError):
        # ValueError: bad JSON or UTF-8; zlib.error: a damaged compressed entry
        raise ModelError("is not a lookalike model or is damaged", path,
                         "train it again with `lookalike train`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError("is not a lookalike model", path, "train one with `lookalike train`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"was written in model format {manifest.get('format_version')} by lookalike "
            f"{manifest.get('lookalike_version')}; this lookalike {__version__} reads format "
            f"{FORMAT_VERSION}", path, "retrain it with this version")
    return manifest, zf


class Recognizer:
    """What every model type offers: labels, per-face answers for a photo, combined verdicts."""

    manifest: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None) -> PhotoResult:
        raise NotImplementedError

    def predict_many(self, photos: Sequence[PhotoSource], *, all_faces: bool = False,
                     together: bool = False, names: Sequence[str] | None = None
                     ) -> tuple[list[PhotoResult], Verdict | None]:
        """Answer several photos; ``together`` also combines their most prominent faces
        into one verdict. ``names`` label bytes inputs in results and errors."""
        results = []
        for k, p in enumerate(photos):
            name = names[k] if names else ("<bytes>" if isinstance(p, bytes) else str(p))
            try:
                results.append(self.predict(p, all_faces=all_faces, name=name))
            except ImageError as err:
                results.append(PhotoResult(name, [], None, str(err)))
        verdict = None
        if together:
            verdict = combine(self.labels, [r.faces[0] for r in results if r.ok], len(photos))
        return results, verdict

    _pipeline = None

    @property
    def pipeline(self):
        """The face pipeline (detector + embedder) an embedding-based recognizer was built
        with; an installation whose embedder differs is refused (vectors would not compare)."""
        if self._pipeline is None:
            from .pipeline import pipeline_for

            try:
                self._pipeline = pipeline_for(self.manifest["embedder"],
                                              bool(self.manifest.get("crops")))
            except ValueError as err:
                raise self._mismatch(str(err)) from None
        return self._pipeline

    def _mismatch(self, what: str) -> LookalikeError:
        return LookalikeError(f"was built with {what}")

    def describe(self) -> dict:
        m = self.manifest
        return {k: m.get(k) for k in ("kind", "labels", "embedder", "head", "threshold",
                                      "metrics", "lookalike_version", "created", "runtime")}


class Model(Recognizer):
    """A face-embedding model: embedder + calibrated head + the training embeddings."""

    def __init__(self, manifest: dict, head: Head, train_embeddings: np.ndarray,
                 train_labels: np.ndarray, thumbs: list[bytes] | None = None,
                 path: Path | None = None):
        self.manifest = manifest
        self.head = head
        self.train_embeddings = np.asarray(train_embeddings, np.float32)
        self.train_labels = np.asarray(train_labels, np.int64)
        self._thumbs = thumbs
        self.path = path
        self._pipeline = None

    # -- answering -------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"]["similarity"])

    def _mismatch(self, what: str) -> ModelError:
        return ModelError(f"was trained with {what}", self.path, "retrain the model")

    def rank_embeddings(self, E: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, list]]:
        """For each embedding: probabilities, per-person nearest similarity, nearest index."""
        if len(E) == 0:
            return []
        proba = self.head.predict_proba(E)
        sims = E @ self.train_embeddings.T  # (n, N)
        labels = self.train_labels
        people = np.arange(len(self.labels))
        out = []
        for i in range(len(E)):
            # photos grouped by person, most similar first: each group's head is its nearest
            # (every person has at least one training photo)
            order = np.lexsort((-sims[i], labels))
            nearest = order[np.searchsorted(labels[order], people)]
            out.append((proba[i], sims[i][nearest].astype(np.float32),
                        [int(j) for j in nearest]))
        return out

    def face_results(self, faces, embeddings: np.ndarray) -> list[FaceResult]:
        results = []
        for face, (p, sim, nearest) in zip(faces, self.rank_embeddings(embeddings), strict=True):
            ranking = rank(self.labels, p, sim)
            order = np.argsort(-p, kind="stable")
            top_sim = float(sim[order[0]])
            results.append(FaceResult(face, ranking, top_sim < self.threshold, top_sim, p,
                                      [nearest[i] for i in order]))
        return results

    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None) -> PhotoResult:
        label = name or ("<bytes>" if isinstance(photo, bytes) else str(photo))
        analysis = self.pipeline.analyze(photo, name=label, first_only=not all_faces)
        n = len(analysis.faces) if all_faces else min(1, len(analysis.faces))
        faces = self.face_results(analysis.faces[:n], analysis.embeddings[:n])
        error = None if faces else "no face found"
        return PhotoResult(label, faces, analysis.image_size, error)

    # -- thumbnails of training faces ------------------------------------------------------
    def thumbnail(self, index: int) -> bytes | None:
        """The JPEG of training face ``index`` (None when there is none). All thumbnails are
        read from the model file at the first call (a few kB each)."""
        if self._thumbs is None and self.path is not None:
            self._thumbs = self._read_thumbs()
        thumbs = self._thumbs or []
        return (thumbs[index] or None) if 0 <= index < len(thumbs) else None

    def _read_thumbs(self) -> list[bytes]:
        try:
            with zipfile.ZipFile(self.path) as zf:
                names = set(zf.namelist())
                return [zf.read(f"thumbs/{i}.jpg") if f"thumbs/{i}.jpg" in names else b""
                        for i in range(len(self.train_labels))]
        except (OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError):
            return []

    def train_photo(self, index: int) -> str | None:
        paths = self.manifest.get("train_photos") or []
        return paths[index] if index < len(paths) else None

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        manifest = dict(self.manifest)
        arrays = {f"head/{k}": v for k, v in self.head.to_arrays().items()}
        arrays["train_embeddings"] = self.train_embeddings.astype(np.float32)
        arrays["train_labels"] = self.train_labels
        thumbs = [self.thumbnail(i) or b"" for i in range(len(self.train_labels))]

        def write(fh) -> None:
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
                zf.writestr("arrays.npz", buf.getvalue(), compress_type=zipfile.ZIP_STORED)
                for i, t in enumerate(thumbs):
                    if t:
                        zf.writestr(f"thumbs/{i}.jpg", t, compress_type=zipfile.ZIP_STORED)

        out = atomic_write(path, write)
        self.path = out
        return out

    @classmethod
    def from_archive(cls, manifest: dict, zf: zipfile.ZipFile, path: Path) -> Model:
        try:
            with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            head_cls = HEADS[manifest["head"]["type"]]
            head = head_cls.from_arrays({k[5:]: v for k, v in arrays.items()
                                         if k.startswith("head/")})
            model = cls(manifest, head, arrays["train_embeddings"], arrays["train_labels"],
                        None, path)
        except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile, EOFError,
                NotImplementedError, zlib.error):
            raise ModelError("is damaged (arrays missing or unreadable)", path,
                             "train it again with `lookalike train`") from None
        if len(model.labels) != model.head.n_classes:
            raise ModelError("is inconsistent (labels and head disagree)", path,
                             "train it again")
        return model


def load(path: str | Path) -> Recognizer:
    """Load any lookalike model file (face-embedding or the article's CNN), or a gallery
    (a folder holding lookalike-gallery.json, or postgresql://…#name)."""
    if str(path).startswith(("postgresql://", "postgres://")) or (
            Path(path) / "lookalike-gallery.json").is_file():
        from .gallery import Gallery

        return Gallery.open(str(path))
    path = Path(path)
    manifest, zf = read_archive(path)
    with zf:
        kind = manifest.get("kind")
        if kind == "embedding":
            return Model.from_archive(manifest, zf, path)
        if kind == "article":
            from .recipes.article import ArticleModel

            return ArticleModel.from_archive(manifest, zf, path)
    raise ModelError(f"has unknown model kind {kind!r}", path, "upgrade lookalike")


def new_manifest(**fields: Any) -> dict:
    """A manifest's common fields; ``runtime`` records the backend and precision the face
    networks ran with (informational: compatibility is the embedder's version)."""
    import datetime

    from .runtime import describe

    m = {"format": FORMAT, "format_version": FORMAT_VERSION, "lookalike_version": __version__,
         "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
         "runtime": describe()}
    m.update(fields)
    return m


