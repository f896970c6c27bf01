"""The recipe's model file and model type: the Keras network inside the lookalike archive,
behind the common :class:`~lookalike.models.recognizer.Recognizer` answer (with Grad-CAM)."""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from lookalike.answer.ranking import FaceResult, PhotoResult, rank
from lookalike.errors import ModelError
from lookalike.face.detector import Face, FaceDetector
from lookalike.face.pipeline import decode_for_faces
from lookalike.models import kinds
from lookalike.models.archive import atomic_write
from lookalike.models.article.config import ADDED_LATER, HEAD_LAYERS, LAST_CONV, ArticleConfig
from lookalike.models.article.data import face_crop, find_faces
from lookalike.models.article.network import _gradient, _keras, _predict
from lookalike.models.recognizer import Recognizer
from lookalike.photos.images import PhotoSource, read_bytes


def preprocessing(cfg: ArticleConfig) -> dict:
    return {
        "input": "RGB uint8 0–255, scaled inside the network",
        "scaling": {"efficientnet-lite0": "(x - 127) / 128",
                    "mobilenetv2": "x / 127.5 - 1"}[cfg.backbone],
        "image_size": cfg.image_size,
        "face": ("whole photo resized (crops)" if cfg.crops else
                 "most prominent YuNet face, aligned on 5 landmarks (faces.align)"),
        "margin": cfg.margin,
    }


# -- the model type -------------------------------------------------------------------------

class ArticleModel(Recognizer):
    """A fine-tuned CNN (the article's recipe) behind the common :class:`Recognizer` answer."""

    def __init__(self, manifest: dict, *, model=None, keras_bytes: bytes | None = None,
                 path: Path | None = None):
        self.manifest = manifest
        self._model = model
        self._keras_bytes = keras_bytes
        self.path = path
        self._detector: FaceDetector | None = None

    @property
    def config(self) -> ArticleConfig:
        known = {f.name for f in fields(ArticleConfig)}
        named = {k: v for k, v in self.manifest["recipe"].items() if k in known}
        return ArticleConfig(**{**ADDED_LATER, **named})

    @property
    def network(self):
        """The Keras model (loaded on first use: ``lookalike info`` needs no TensorFlow)."""
        if self._model is None:
            keras = _keras()
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "model.keras"
                f.write_bytes(self._keras_bytes or b"")
                try:
                    self._model = keras.saving.load_model(f, compile=False)
                except Exception as err:  # noqa: BLE001
                    raise ModelError(f"its Keras network cannot be loaded ({type(err).__name__})",
                                     self.path, "train it again") from None
        return self._model

    def _faces(self, rgb: np.ndarray) -> list[Face]:
        crops = bool(self.manifest.get("crops"))
        if not crops and self._detector is None:
            self._detector = FaceDetector()
        return find_faces(self._detector, rgb, crops)

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The image_size² crop the network sees for ``face`` (see :func:`face_crop`)."""
        pre = self.manifest["preprocessing"]
        return face_crop(rgb, face, int(pre["image_size"]), float(pre["margin"]))

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        return _predict(self.network, np.asarray(crops), flip=self.config.tta_flip)

    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None) -> PhotoResult:
        label = name or ("<bytes>" if isinstance(photo, bytes) else str(photo))
        rgb, full = decode_for_faces(read_bytes(photo), label)
        faces = self._faces(rgb)
        n_faces = len(faces)
        faces = faces if all_faces else faces[:1]
        if not faces:
            return PhotoResult(label, [], full, "no face found")
        P = self.predict_crops(np.stack([self.crop(rgb, f) for f in faces]))
        k = full[0] / rgb.shape[1]  # boxes in the photo's pixels, as on the face path
        results = [FaceResult(f.scaled(k), rank(self.labels, p), False, None, p)
                   for f, p in zip(faces, P, strict=True)]
        return PhotoResult(label, results, full, None, n_faces)

    def gradcam(self, rgb: np.ndarray, face: Face, person: str | None = None) -> np.ndarray:
        """Grad-CAM heat map (image_size × image_size, float in [0, 1]) over the face crop that
        :meth:`crop` returns for ``face`` — the aligned crop with margin the network saw (the
        whole photo resized for a ``crops`` model). Class: ``person``, or the top answer.
        Computed on the backbone's last convolutional activation."""
        import cv2

        keras = _keras()
        net = self.network
        layer = net.get_layer(LAST_CONV[self.manifest["backbone"]])
        conv_model = keras.Model(net.input, layer.output)  # (.inputs: a list, and a warning)
        head = [net.get_layer(n) for n in HEAD_LAYERS]  # gap → fc512 → predictions

        def scores(c):
            for h in head:
                c = h(c, training=False)
            return c

        x = self.crop(rgb, face)[None].astype(np.float32)
        conv = keras.ops.convert_to_numpy(conv_model(x, training=False)).astype(np.float32)
        if person:
            k = self.labels.index(person)
        else:
            k = int(np.argmax(keras.ops.convert_to_numpy(scores(conv))[0]))
        grads = _gradient(keras.backend.backend(), lambda c: scores(c)[0, k], conv)
        weights = grads.mean(axis=(1, 2))
        cam = np.maximum((conv * weights[:, None, None, :]).sum(axis=-1), 0)[0]
        size = int(self.manifest["preprocessing"]["image_size"])
        cam = cv2.resize(cam.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
        cam = np.clip(cam, 0, None)
        top = float(cam.max())
        return (cam / top if top > 0 else cam).astype(np.float32)

    def describe(self) -> dict:
        m = self.manifest
        return {k: m.get(k) for k in ("kind", "labels", "backbone", "recipe", "preprocessing",
                                      "metrics", "keras", "lookalike_version", "created")}

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        keras = _keras()
        net = self.network
        # A clone holds the same layers and weights without the optimizer's state (which
        # would triple the file).
        bare = keras.Model.from_config(net.get_config())  # (clone_model keeps the optimizer)
        bare.set_weights(net.get_weights())
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "model.keras"
            bare.save(f)
            keras_bytes = f.read_bytes()
        manifest = dict(self.manifest)

        def write(fh) -> None:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
                zf.writestr("model.keras", keras_bytes, compress_type=zipfile.ZIP_STORED)
                zf.writestr("architecture.json", net.to_json())
                zf.writestr("preprocessing.json", json.dumps(manifest["preprocessing"], indent=1))
                zf.writestr("history.json", json.dumps(manifest.get("history", []), indent=1))

        out = atomic_write(path, write)
        self.path = out
        self._keras_bytes = keras_bytes
        return out

    @classmethod
    def from_archive(cls, manifest: dict, zf: zipfile.ZipFile, path: Path) -> ArticleModel:
        try:
            keras_bytes = zf.read("model.keras")
        except (KeyError, OSError, zipfile.BadZipFile):
            raise ModelError("is damaged (model.keras missing)", path,
                             "train it again with `lookalike train --recipe article`") from None
        if not manifest.get("labels") or "preprocessing" not in manifest:
            raise ModelError("is damaged (manifest incomplete)", path, "train it again")
        return cls(manifest, keras_bytes=keras_bytes, path=path)




kinds.register("article", from_archive=ArticleModel.from_archive)
