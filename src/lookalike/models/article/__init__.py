"""The article's recipe as a model type: an ImageNet CNN fine-tuned end to end on face crops.

Network (the article's): backbone with ``include_top=False`` on an S×S×3 input (S = 197) →
``GlobalAveragePooling2D`` → ``Dense(512, relu)`` → ``Dense(N, softmax)``; Adam at 9e-5,
categorical cross-entropy, batch 64, 15 epochs × 10 steps (150 updates).

Pixels: the model takes raw 0–255 RGB and scales them itself (a ``Rescaling`` layer first in
the network: ``(x-127)/128`` for EfficientNet-Lite0, ``x/127.5-1`` for MobileNetV2), so
training and prediction see the same input. (The article fed raw pixels in training and
``preprocess_input`` pixels at prediction; that mismatch is not reproduced.)

Input: the face that :class:`~lookalike.face.detector.FaceDetector` finds (the most prominent one),
aligned on its 5 landmarks with :func:`~lookalike.face.detector.align` and a margin around it — the
*face crop* — or, with ``crops``, the whole photo resized to S×S (the article's hand crops).

The package, by concern: :mod:`.config` (settings, presets), :mod:`.data` (face crops and
augmented batches), :mod:`.network` (Keras, the backbone and the new head), :mod:`.training`
(the training loop, curves) and :mod:`.artifact` (the model file and :class:`ArticleModel`).
TensorFlow / Keras are imported only inside functions: importing lookalike or answering with
a face-embedding model never loads them; importing this package loads nothing but its names
(each is imported from its module on first use).
"""

from __future__ import annotations

import importlib

_WHERE = {
    "ArticleConfig": "config",
    "ArticleModel": "artifact",
    "ArticleReport": "training",
    "BACKBONES": "config",
    "BACKEND_INSTALL": "network",
    "HEAD_LAYERS": "config",
    "INFERENCE_ONLY": "network",
    "LAST_CONV": "config",
    "MOBILENETV2_FILE": "network",
    "PRESETS": "config",
    "TrainingInterrupted": "training",
    "_keras": "network",
    "augmenter": "data",
    "available_memory": "network",
    "build_network": "network",
    "check_config": "config",
    "check_output": "config",
    "config_fields": "config",
    "curves_path": "training",
    "face_crop": "data",
    "find_faces": "data",
    "keras_backend_name": "network",
    "load_crops": "data",
    "preprocessing": "artifact",
    "set_trainable": "network",
    "train_article": "training",
    "training_memory_bytes": "network",
    "whole_photo_face": "data",
}

__all__ = sorted(k for k in _WHERE if not k.startswith("_"))


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)
