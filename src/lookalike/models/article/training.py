"""The recipe's training loop: data → network → fit in two phases (head warm-up, then the
whole network) with per-epoch logging, best-weights keeping, early stopping and checkpoints;
the validation re-scored in inference mode; learning curves."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.answer.scoring import score
from lookalike.errors import DatasetError, LookalikeError, Terminated
from lookalike.face.detector import FaceDetector
from lookalike.models.archive import new_manifest
from lookalike.models.article.artifact import ArticleModel, preprocessing
from lookalike.models.article.config import (
    ArticleConfig,
    check_config,
    check_output,
)
from lookalike.models.article.data import _batches, _tf_data, augmenter, load_crops
from lookalike.models.article.network import (
    INFERENCE_ONLY,
    _keras,
    _predict,
    available_memory,
    build_network,
    set_trainable,
    training_memory_bytes,
)
from lookalike.photos.folders import Dataset, discover

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


@dataclass
class _Crops:
    """The face crops split for training: arrays, the people (class order) and the batch."""

    Xtr: np.ndarray
    ytr: np.ndarray
    Xva: np.ndarray
    yva: np.ndarray
    people: list[str]
    batch: int


def train_article(data_dir: str | Path | Dataset, cfg: ArticleConfig | None = None, *,
                  validation_fraction: float = 0.2, progress: bool = True,
                  log: Callable[[str], None] | None = None, logdir: str | None = None,
                  checkpoint: str | Path | None = None) -> tuple[ArticleModel, ArticleReport]:
    """Fine-tune the article's network on ``data_dir``; returns the model (not saved yet)."""
    cfg = cfg or ArticleConfig()
    say = log or (lambda _m: None)
    check_config(cfg)
    if checkpoint:
        check_output(Path(checkpoint), "--checkpoint")
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
    model = _network_first(ds, cfg, people_guess)
    say(f"{len(ds.photos)} photos of {len(people_guess)} people ({ds.layout} layout); "
        f"{'whole photos (crops)' if cfg.crops else 'face crops'} at {cfg.image_size} px, "
        f"backbone {cfg.backbone}")
    data, report = _crops(ds, cfg, people_guess, progress)
    for w in report.warnings:
        say(f"warning: {w}")
    if len(data.people) != len(people_guess):
        model = build_network(cfg, len(data.people))
    result = ArticleModel(_manifest(cfg, data.people, ds, report), model=model)
    t0 = time.perf_counter()
    epochs = _fit(model, cfg, data, report, say, logdir,
                  _checkpointer(result, ds, report, checkpoint),
                  Path(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - t0
    if cfg.early_stopping and epochs.best_weights is not None:
        model.set_weights(epochs.best_weights)
        say(f"restored the weights of epoch {epochs.best[2]} (best validation)")
    report.history = epochs.history
    report.metrics = _rescore(model, cfg, data, epochs, seconds)
    result.manifest.update(metrics=report.metrics, history=epochs.history,
                           warnings=report.warnings,
                           split={"layout": ds.layout, "counts": report.split},
                           skipped=[list(s) for s in report.skipped])
    return result, report


def _network_first(ds: Dataset, cfg: ArticleConfig, people: list[str]):
    if len(people) < 2:
        raise DatasetError(f"found {len(people)} person with training photos, the "
                           "article's recipe needs at least 2", ds.root,
                           "add a folder per person (or use the embedding recipe)")
    model = build_network(cfg, len(people))
    need, have = training_memory_bytes(model, cfg.batch_size), available_memory()
    if have is not None and need > 0.8 * have:
        raise LookalikeError(
            f"--image-size {cfg.image_size} with --batch-size {cfg.batch_size} needs about "
            f"{need / 2**30:.1f} GiB to train, {have / 2**30:.1f} GiB are free",
            fix="lower --batch-size or --image-size")
    return model


def _crops(ds: Dataset, cfg: ArticleConfig, people_guess: list[str], progress: bool
           ) -> tuple[_Crops, ArticleReport]:
    """Every photo's face crop, split into training and validation arrays."""
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
    for p in sorted(set(people_guess) - set(people)):
        report.warnings.append(f"{p}: no usable training photo; left out")
    index = {p: k for k, p in enumerate(people)}
    keep = np.array([p in index for p in persons], bool)
    y = np.array([index.get(p, -1) for p in persons])
    data = _Crops(X[is_train & keep], y[is_train & keep], X[~is_train & keep],
                  y[~is_train & keep], people, cfg.batch_size)
    for p in people:
        report.split[p] = {"train": int(np.sum(data.ytr == index[p])),
                           "validation": int(np.sum(data.yva == index[p]))}
    if n_tr < data.batch:
        data.batch = n_tr
        report.warnings.append(f"only {n_tr} training photos: batch size {cfg.batch_size} "
                               f"lowered to {n_tr}")
    if len(data.Xva) == 0:
        report.warnings.append("no validation photos: accuracy is not measured (add photos "
                               "or a validation/ folder)")
    return data, report


def _checkpointer(result: ArticleModel, ds: Dataset, report: ArticleReport,
                  checkpoint: str | Path | None) -> Callable[[_EpochLog], None] | None:
    """Saves the epoch just logged into ``checkpoint`` (None: no checkpoints)."""
    if not checkpoint:
        return None

    def save(epochs: _EpochLog) -> None:
        row = epochs.history[-1]
        result.manifest.update(
            metrics={"checkpoint_epoch": row["epoch"], "best_epoch": row["epoch"],
                     "best_val_accuracy": row["val_acc"], "val_loss": row["val_loss"]},
            history=list(epochs.history), warnings=report.warnings,
            split={"layout": ds.layout, "counts": report.split})
        result.save(checkpoint)  # atomic: a Ctrl-C here leaves the previous checkpoint
        epochs.saved = (row["epoch"], row["val_acc"])

    return save


def _fit(model, cfg: ArticleConfig, data: _Crops, report: ArticleReport,
         say: Callable[[str], None], logdir: str | None,
         save: Callable[[_EpochLog], None] | None, checkpoint: Path | None) -> _EpochLog:
    """Train the new head (warm-up), then the whole network; Ctrl-C is
    :class:`TrainingInterrupted` saying what the checkpoint holds."""
    keras = _keras()
    n_cls = len(data.people)
    aug = augmenter(cfg.seed) if cfg.augment else None
    if keras.backend.backend() == "tensorflow":
        train_ds, val_ds = _tf_data(data.Xtr, data.ytr, data.Xva, data.yva, n_cls, data.batch,
                                    aug, cfg.seed)
    else:  # JAX / PyTorch: the same stream of batches from NumPy, augmented eagerly
        train_ds = _batches(keras, data.Xtr, data.ytr, n_cls, data.batch, cfg.steps_per_epoch,
                            aug, cfg.seed)
        val_ds = ((data.Xva.astype(np.float32), np.eye(n_cls, dtype=np.float32)[data.yva])
                  if len(data.Xva) else None)
    epochs = _EpochLog(cfg, say, (lambda: save(epochs)) if save else None)
    callbacks = [epochs.callback(model, cfg.epochs)]
    if logdir:
        if keras.backend.backend() == "tensorflow":
            callbacks.append(keras.callbacks.TensorBoard(logdir, write_graph=True))
        else:
            report.warnings.append("TensorBoard logs need the TensorFlow backend; not written")

    def fit(first: int, last: int, lr: float, schedule: str = "constant",
            ema: float = 0.0) -> None:
        if last <= first or model.stop_training:
            return
        rate = (keras.optimizers.schedules.CosineDecay(lr, (last - first) * cfg.steps_per_epoch)
                if schedule == "cosine" else lr)
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
        # with ema, fit() ends by putting the averaged weights in the model
        opt = (keras.optimizers.Adam(rate, use_ema=True, ema_momentum=ema) if ema
               else keras.optimizers.Adam(rate))
        model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
        model.fit(train_ds, epochs=last, initial_epoch=first, steps_per_epoch=cfg.steps_per_epoch,
                  validation_data=val_ds, validation_batch_size=64, callbacks=callbacks,
                  verbose=0, shuffle=False)

    model.stop_training = False
    warm = 0 if cfg.freeze_backbone else min(cfg.warmup_epochs, cfg.epochs)
    try:
        set_trainable(model, cfg, backbone=False)
        if cfg.freeze_backbone:
            fit(0, cfg.epochs, cfg.learning_rate, cfg.lr_schedule, cfg.ema)
        else:
            fit(0, warm, cfg.warmup_learning_rate)
            set_trainable(model, cfg, backbone=True)
            fit(warm, cfg.epochs, cfg.learning_rate, cfg.lr_schedule, cfg.ema)
    except KeyboardInterrupt as err:
        raise TrainingInterrupted(len(epochs.history), cfg.epochs,
                                  checkpoint if epochs.saved else None,
                                  *(epochs.saved or (None, None)),
                                  terminated=isinstance(err, Terminated)) from None
    return epochs


def _rescore(model, cfg: ArticleConfig, data: _Crops, epochs: _EpochLog, seconds: float
             ) -> dict[str, Any]:
    """The metrics, re-scored in inference mode as `predict` answers."""
    metrics: dict[str, Any] = {
        "train_photos": int(len(data.Xtr)), "validation_photos": int(len(data.Xva)),
        "train_seconds": round(seconds, 1), "batch_size": data.batch,
        "updates": int(sum(1 for _ in epochs.history) * cfg.steps_per_epoch)}
    metrics["train_accuracy"] = float(np.mean(_predict(model, data.Xtr).argmax(1) == data.ytr))
    if len(data.Xva):
        plain = _predict(model, data.Xva)
        flipped = _predict(model, data.Xva, flip=True)
        metrics.update(score(flipped if cfg.tta_flip else plain, data.yva))
        # Both, whichever answers: the benchmark compares test-time flip without retraining.
        metrics["accuracy_without_flip"] = float(np.mean(plain.argmax(1) == data.yva))
        metrics["accuracy_with_flip"] = float(np.mean(flipped.argmax(1) == data.yva))
        vals = [h["val_acc"] for h in epochs.history]
        metrics["final_val_accuracy"] = vals[-1]
        metrics["best_val_accuracy"] = max(vals)
        metrics["best_epoch"] = int(np.argmax(vals)) + 1
    return metrics


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


# -- the command line -----------------------------------------------------------------------


def curves_path(model_path: str | Path) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + ".curves.png")


