"""The recipe's data: face crops from photos (the network's input) and the augmented
batches fed to training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.errors import ImageError
from lookalike.face.detector import Face, FaceDetector, align, whole_image_face
from lookalike.face.pipeline import decode_for_faces
from lookalike.models.article.config import ArticleConfig
from lookalike.models.article.network import _keras
from lookalike.photos.folders import Photo
from lookalike.photos.images import read_bytes
from lookalike.progress import bar

# -- faces ----------------------------------------------------------------------------------

def face_crop(rgb: np.ndarray, face: Face, size: int, margin: float) -> np.ndarray:
    """The size×size RGB crop the network sees for ``face``: aligned on the landmarks with
    ``margin`` around the face; for a synthetic face (``crops``) the whole photo, resized."""
    if face.synthetic:
        import cv2

        return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA
                          if min(rgb.shape[:2]) > size else cv2.INTER_LINEAR)
    return align(rgb, face, size=size, margin=margin)


def whole_photo_face(shape: tuple[int, ...]) -> Face:
    h, w = shape[:2]
    f = whole_image_face(shape)
    return Face((0.0, 0.0, float(w), float(h)), f.landmarks, 0.0, synthetic=True)


def find_faces(detector: FaceDetector | None, rgb: np.ndarray, crops: bool) -> list[Face]:
    if crops or detector is None:
        return [whole_photo_face(rgb.shape)]
    return detector.detect(rgb)


def load_crops(photos: list[Photo], root: Path, cfg: ArticleConfig, *, progress: bool = True
               ) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Face crops of photos (the most prominent face, as ``predict`` uses): the crops, the
    indices of the photos kept, and (photo, why) for the others."""
    detector = None if cfg.crops else FaceDetector()
    crops, kept, skipped = [], [], []
    for i, ph in enumerate(bar(photos, desc="faces", enabled=progress)):
        rel = _rel(ph.path, root)
        try:
            rgb = decode_for_faces(read_bytes(ph.path), rel)[0]
        except ImageError as err:
            skipped.append((rel, str(err).split(": ", 1)[-1]))
            continue
        faces = find_faces(detector, rgb, cfg.crops)
        if not faces:
            skipped.append((rel, "no face found (use --crops if photos are face crops)"))
            continue
        crops.append(face_crop(rgb, faces[0], cfg.image_size, cfg.margin))
        kept.append(i)
    shape = (0, cfg.image_size, cfg.image_size, 3)
    return (np.stack(crops) if crops else np.zeros(shape, np.uint8)), kept, skipped


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()



def augmenter(seed: int):
    """The training-set augmentation: flip, zoom (random crop), translation, small rotation,
    brightness, contrast, Gaussian noise — Keras preprocessing layers on 0–255 pixels."""
    keras = _keras()
    from keras import layers

    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomZoom((-0.15, 0.1), fill_mode="reflect", seed=seed + 1),
        layers.RandomTranslation(0.06, 0.06, fill_mode="reflect", seed=seed + 2),
        layers.RandomRotation(0.03, fill_mode="reflect", seed=seed + 3),  # ±11°
        layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed + 4),
        layers.RandomContrast(0.2, seed=seed + 5),
        layers.Rescaling(1 / 255.0),  # GaussianNoise takes a stddev ≤ 1
        layers.GaussianNoise(0.025, seed=seed + 6),
        layers.Rescaling(255.0),
    ], name="augment")



def _tf_data(Xtr: np.ndarray, ytr: np.ndarray, Xva: np.ndarray, yva: np.ndarray, n_cls: int,
             batch: int, aug, seed: int):
    """The TensorFlow backend's input pipeline: shuffled, repeated, augmented in parallel."""
    import tensorflow as tf

    @tf.autograph.experimental.do_not_convert  # plain tensor code: nothing to convert
    def to_float(x, t):
        return tf.cast(x, tf.float32), tf.one_hot(t, n_cls)

    @tf.autograph.experimental.do_not_convert
    def augment(x, t):
        return aug(x, training=True), t

    train_ds = (tf.data.Dataset.from_tensor_slices((Xtr, ytr))
                .shuffle(len(Xtr), seed=seed, reshuffle_each_iteration=True).repeat()
                .map(to_float).batch(batch))
    if aug is not None:
        train_ds = train_ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    train_ds = train_ds.prefetch(2)
    val_ds = (tf.data.Dataset.from_tensor_slices((Xva, yva)).map(to_float).batch(64)
              if len(Xva) else None)
    return train_ds, val_ds


def _batches(keras, X: np.ndarray, y: np.ndarray, n_cls: int, batch: int, steps: int, aug,
             seed: int):
    """Training batches for the other backends, without TensorFlow: a reshuffled endless
    stream of the training crops (every photo once per pass), augmented by the Keras layers
    on the backend itself."""

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.order = np.zeros(0, np.int64)

        def __len__(self) -> int:
            return steps

        def __getitem__(self, _index: int):
            while len(self.order) < batch:
                self.order = np.concatenate([self.order, self.rng.permutation(len(X))])
            idx, self.order = self.order[:batch], self.order[batch:]
            xb = X[idx].astype(np.float32)
            if aug is not None:
                xb = keras.ops.convert_to_numpy(aug(xb, training=True)).astype(np.float32)
            return xb, np.eye(n_cls, dtype=np.float32)[y[idx]]

    return Batches()


