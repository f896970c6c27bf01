"""The recipe's settings: every option, the presets and the backbones (no TensorFlow, no
NumPy: the command line reads them for every command)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lookalike.errors import LookalikeError

BACKBONES = ("efficientnet-lite0", "mobilenetv2")
LR_SCHEDULES = ("constant", "cosine")
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
    #: "constant": the article's fixed rate; "cosine" (default since issue 16): the
    #: fine-tuning phase's rate falls along a half cosine from ``learning_rate`` to zero by
    #: the last update.
    lr_schedule: str = "cosine"
    #: The fine-tuned weights kept are an exponential moving average of the last updates'
    #: with this momentum (0: the last update's, as the article; 0.98 ≈ the last 50 updates).
    ema: float = 0.0
    #: Cross-entropy against targets smoothed by this much (0: the article's one-hot).
    label_smoothing: float = 0.0
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
    #: Test-time flip (default since issue 16): a face's answer is the mean of the crop's and
    #: its mirror's; it changes prediction only, not training.
    tta_flip: bool = True
    early_stopping: int = 0  # patience in epochs (0: off); restores the best weights
    seed: int = 0

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ArticleConfig:
        cfg = cls(**PRESETS[name])
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


#: The settings added after model files were first written, at the article's values — which
#: is also what a file that does not name them was trained with (loading fills them from here:
#: a default that changes must not change the answers of a model trained before it).
ADDED_LATER: dict[str, Any] = {"lr_schedule": "constant", "ema": 0.0, "label_smoothing": 0.0,
                               "tta_flip": False}

#: "article": the article exactly (BatchNorm in training mode, no warm-up, whole network
#: trained from the first step; augmentation as asked — the article had none).
#: "improved": the defaults — BatchNorm frozen and head warm-up, measured on lfw7
#: (bench/studies/article/bench_article.py); cosine decay and test-time flip, chosen across 6
#: other LFW sets
#: (bench/studies/article/bench_article_sets.py, issue 16).
PRESETS: dict[str, dict[str, Any]] = {
    "article": {"batchnorm": "train", "warmup_epochs": 0, **ADDED_LATER},
    "improved": {},
}



def config_fields() -> list[str]:
    """The names of the settings (the command line's options map onto them)."""
    return [f.name for f in fields(ArticleConfig)]


def check_output(path: Path, option: str) -> None:
    """A model file that can be written later: not a folder, in a folder that exists (checked
    before training, not after an hour of it)."""
    if path.is_dir():
        raise LookalikeError("is a folder", path, f"give {option} a file name, e.g. "
                             "best.lookalike")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise LookalikeError(f"folder {folder} does not exist", path, "create it first")


def check_config(cfg: ArticleConfig) -> None:
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
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise LookalikeError(f"--lr-schedule {cfg.lr_schedule!r}",
                             fix=f"use {' or '.join(LR_SCHEDULES)}")
    if not 0 <= cfg.ema < 1:
        raise LookalikeError(f"--ema {cfg.ema} is out of range",
                             fix="use 0 (off) to below 1, e.g. 0.98")
    if not 0 <= cfg.label_smoothing < 1:
        raise LookalikeError(f"--label-smoothing {cfg.label_smoothing} is out of range",
                             fix="use 0 (none) to below 1, e.g. 0.1")
