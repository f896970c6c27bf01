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
from pathlib import Path

import numpy as np

from lookalike.answer.heads import HEADS, Head
from lookalike.answer.ranking import FaceResult, PhotoResult, answer_faces, answer_photo
from lookalike.errors import ModelError
from lookalike.models import kinds
from lookalike.models.archive import (
    FORMAT,
    FORMAT_VERSION,
    atomic_write,
    new_manifest,
    read_archive,
)
from lookalike.models.kinds import load
from lookalike.models.recognizer import EmbeddingRecognizer, Recognizer
from lookalike.photos.images import PhotoSource

__all__ = ["FORMAT", "FORMAT_VERSION", "Model", "Recognizer", "atomic_write", "load",
           "new_manifest", "read_archive"]


class Model(EmbeddingRecognizer):
    """A face-embedding model: embedder + calibrated head + the training embeddings."""

    #: The people, in the head's order (a plain attribute: fixed for a model).
    labels: list[str] = []  # type: ignore[assignment]

    def __init__(self, manifest: dict, head: Head, train_embeddings: np.ndarray,
                 train_labels: np.ndarray, thumbs: list[bytes] | None = None,
                 path: Path | None = None):
        self.manifest = manifest
        self.labels = list(manifest["labels"])
        self.head = head
        self.train_embeddings = np.asarray(train_embeddings, np.float32)
        self.train_labels = np.asarray(train_labels, np.int64)
        self._thumbs = thumbs
        self.path = path

    thread_safe = True  # the detector and embedder lock their networks
    has_thumbnails = True
    keeps_images = True

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
        return answer_faces(self.labels, faces, self.rank_embeddings(embeddings),
                            self.threshold)

    def lanes(self, photos: int) -> int:
        """Photos answered at once by :meth:`predict_many`: the pipeline's networks say
        (:meth:`lookalike.face.pipeline.FacePipeline.lanes`); the rest of an answer reads only
        this model's fixed arrays."""
        return self.pipeline.lanes(photos)

    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None, keep_image: bool = False) -> PhotoResult:
        """The photo through the face pipeline (one call: decode, detect, choose, embed),
        the faces' rows here, and the answer ranked by :mod:`lookalike.answer.ranking` (one
        call)."""
        label = name or ("<bytes>" if isinstance(photo, bytes) else str(photo))
        analysis = self.pipeline.analyze(photo, name=label, first_only=not all_faces,
                                         keep_image=keep_image)
        n = len(analysis.faces) if all_faces else min(1, len(analysis.faces))
        faces, rows = analysis.faces[:n], self.rank_embeddings(analysis.embeddings[:n])
        return answer_photo(label, faces, rows, self.labels, self.threshold,
                            analysis.image_size, analysis.n_faces, analysis.image,
                            analysis.image_scale)

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
        if len(model.labels) != model.head.n_classes_:
            raise ModelError("is inconsistent (labels and head disagree)", path,
                             "train it again")
        return model


kinds.register("embedding", from_archive=Model.from_archive)
