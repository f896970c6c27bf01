"""A network on OpenVINO's CPU device: compiled once per input shape it keeps, infer requests
pooled between threads, and the buffers of rare big inputs given back.

The measurements behind the constants here (shapes kept, pixels of a "big" input, runs between
heap trims) are in BENCHMARKS.md ("Fast face path", "Memory of the web server").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from lookalike.runtime import memory
from lookalike.runtime.lanes import streams
from lookalike.runtime.openvino_import import import_openvino, ov_core
from lookalike.runtime.policy import pin_threads, threads
from lookalike.runtime.weights import fp32_onnx, int8_model

_compile_lock = threading.Lock()  # one compile at a time (each is multi-threaded already)
# OpenVINO's Python binding initialises C++ statics (numpy's API among them) at their first
# use, under a guard that does not release Python's lock: two threads' first inferences at
# once deadlocked, both waiting in __cxa_guard_acquire (seen with photos side by side, the
# first inference of the process in two lanes). A request's first run holds this lock.
_first_run_lock = threading.Lock()

DYNAMIC = ("dynamic",)  # the key of the compiled model with dynamic sides


def _is_dynamic(key: tuple) -> bool:
    return key[0] == "dynamic"


class OpenVINONetwork:
    """One ONNX network on OpenVINO. A new input shape is compiled on first sight and the last
    ``max_shapes`` are kept (LRU); with ``dynamic``, a size runs on one compiled dynamic-shape
    model until it was seen ``static_after`` times, then gets its own compiled model (at most
    ``max_shapes`` such, kept: evicting and compiling again under varied sizes grows memory
    without bound), except the first size met, compiled for itself at once; with ``batch``,
    one model with a dynamic batch size serves every batch. A thread running photos side by
    side (:mod:`lookalike.runtime.lanes`) runs its own compiled variants: as many streams as
    photos at once, the threads shared among them."""

    backend = "openvino"

    def __init__(self, source: Path, *, precision: str = "f32", max_shapes: int = 8,
                 dynamic: bool = False, static_after: int = 2, batch: bool = False,
                 rgb_images: bool = False):
        self.source = Path(source)
        #: ``run`` takes NHWC RGB uint8 images; the graph converts them to its NCHW BGR float32
        self.rgb_images = rgb_images
        self.precision = precision
        self.dynamic = dynamic
        self.batch = batch and not dynamic
        self.static_after = static_after
        self.max_shapes = max_shapes
        #: inputs of more pixels than this (YuNet's second look at 2x its size) run on the
        #: dynamic model, not a compiled size, and its buffers are released after them
        self.pool_pixels = 640 * 640
        #: runs of a dynamic network between two heap trims
        self.trim_every = 256
        self.compiles = 0
        self._seen: dict[tuple, int] = {}
        self._dynamic_busy = 0  # runs in flight on the dynamic model
        self._dynamic_release = False  # a big input grew its buffers: release when idle
        self._runs = 0
        self._model = None  # the uncompiled openvino.Model
        self._blob_dir: Path | None = None  # OpenVINO's compiled-model cache, if writable
        self._compiled: OrderedDict[tuple, object] = OrderedDict()
        self._compiling: set[tuple] = set()  # keys a thread is compiling now
        # idle infer requests per compiled model (id -> (compiled, [requests])): a request
        # holds its own activation buffers, so they are pooled, not kept per thread
        self._idle: dict[int, tuple[object, list]] = {}
        # at most one inference per core at once: more only queue inside OpenVINO, and each
        # running request needs buffers of its own
        self._slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self._lock = threading.Lock()  # guards the dicts above and the dynamic model's state

    # loading -------------------------------------------------------------------------------
    def _read(self):
        if self._model is None:
            xml = int8_model(self.source) if self.precision == "int8" else None
            if xml is not None:
                self._model = ov_core().read_model(str(xml))
                self._blob_dir = _cache_dir()
            else:
                path, data = fp32_onnx(self.source)
                # (ONNX bytes are read from memory when the cache cannot be written)
                self._model = ov_core().read_model(str(path) if path is not None else data)
                self._blob_dir = path.parent / "openvino" if path is not None else None
            if self.rgb_images:
                self._model = _taking_rgb_images(self._model)
        return self._model

    def _key(self, shape: tuple[int, ...], lanes: int) -> tuple:
        """Which compiled model runs an input of this shape for a thread running ``lanes``
        photos side by side (counting sightings)."""
        key: tuple = ("batch", *shape[1:]) if self.batch else shape
        if lanes > 1:
            key = (*key, "lanes", lanes)
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return key
            self._seen[shape] = seen = self._seen.get(shape, 0) + 1
            if len(self._seen) > 1024:
                self._seen.clear()
            statics = sum(not _is_dynamic(k) for k in self._compiled)
            compiling = key in self._compiling  # by another thread: not waited for
            # the first shape met gets its own model at once: most folders are photos of one
            # size (one compile, not a dynamic one and then that size's), and compiling a
            # size costs no more than compiling the dynamic model (NOTES-startup.md)
            first = not self._compiled and not self._compiling
        if self.dynamic and ((seen < self.static_after and not first)
                             or statics >= self.max_shapes
                             or self._pixels(shape) > self.pool_pixels or compiling):
            return DYNAMIC if lanes == 1 else (*DYNAMIC, lanes)
        return key

    def _compiled_for(self, shape: tuple[int, ...]) -> tuple[object, bool]:
        """(the compiled model for this shape and the calling thread's lanes, whether it is
        the dynamic-shape one)."""
        lanes = streams()
        key = self._key(shape, lanes)
        with self._lock:
            hit = self._compiled.get(key)
        if hit is not None:
            return hit, _is_dynamic(key)
        dynamic = _is_dynamic(key)
        if dynamic or self.batch:  # (SFace batched: bit for bit batch 1's)
            sides = [shape[0], -1, -1, shape[3]] if self.rgb_images else [*shape[:2], -1, -1]
            dims = [-1, *shape[1:]] if self.batch else sides
        else:
            dims = list(shape)
        with _compile_lock:
            with self._lock:
                hit = self._compiled.get(key)
                if hit is not None:
                    return hit, dynamic
                # meanwhile, other threads run this shape on the dynamic model (:meth:`_key`)
                self._compiling.add(key)
            try:
                compiled = self._compile_variant(dims, dynamic=dynamic, lanes=lanes)
            finally:
                with self._lock:
                    self._compiling.discard(key)
            with self._lock:
                self.compiles += 1
                self._compiled[key] = compiled
                if not self.dynamic and lanes == 1:  # one shape: the uncompiled copy of the
                    self._model = None  # weights can go (read again if a new shape comes)
                statics = [k for k in self._compiled if not _is_dynamic(k)]
                for old in statics[: max(0, len(statics) - self.max_shapes)]:
                    self._idle.pop(id(self._compiled.pop(old)), None)
            return compiled, dynamic

    def _compile_variant(self, dims: list[int], dynamic: bool, lanes: int):
        """The graph with input ``dims`` (-1: dynamic) compiled for ``lanes``. Each such
        variant is kept as an OpenVINO IR file in the model cache (:func:`variant_ir`) and
        compiled from there by path: OpenVINO then imports its compiled blob without reading
        the graph at all (no ONNX conversion, no weights check, no preprocessing or reshape:
        a fifth of a one-photo ``lookalike predict``; bench/studies/speed/NOTES-startup.md).
        The first time, or without a writable cache, the graph is read, reshaped and
        compiled here."""
        ir = self._variant_ir(dims)

        def from_ir():  # (None: damaged, or from another OpenVINO)
            with contextlib.suppress(RuntimeError):
                return compile_cpu(str(ir), precision=self.precision, dynamic=dynamic,
                                   cache_dir=ir.parent.parent, streams=lanes)[0]
            return None

        if ir is not None and ir.is_file() and (compiled := from_ir()) is not None:
            return compiled
        model = self._read().clone()
        shape = import_openvino().PartialShape(dims)
        if model.inputs[0].get_partial_shape() != shape:
            model.reshape({model.inputs[0]: shape})
        if ir is not None and save_ir(model, ir) and (compiled := from_ir()) is not None:
            return compiled
        compiled, self._blob_dir = compile_cpu(model, precision=self.precision, dynamic=dynamic,
                                               cache_dir=self._blob_dir, streams=lanes)
        return compiled

    def _variant_ir(self, dims: list[int]) -> Path | None:
        """Where the IR of this network with input ``dims`` is kept (None: no writable
        cache, or the source is gone)."""
        folder = _cache_dir()
        if folder is None:
            return None
        return variant_ir(folder / "ir", self.source, self.precision, self.rgb_images, dims)

    # running -------------------------------------------------------------------------------
    def _pixels(self, shape: tuple[int, ...]) -> int:
        """An input's pixels per image (NHWC images, else NCHW)."""
        return shape[1] * shape[2] if self.rgb_images else shape[-1] * shape[-2]

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        blob = np.ascontiguousarray(blob, dtype=np.uint8 if self.rgb_images else np.float32)
        compiled, dynamic = self._compiled_for(tuple(blob.shape))
        big = self._pixels(blob.shape) > self.pool_pixels
        with self._slots:
            with self._lock:
                entry = self._idle.get(id(compiled))
                idle = entry[1] if entry is not None and entry[0] is compiled else None
                request = idle.pop() if idle else None
                self._dynamic_busy += dynamic
            try:
                if request is None:  # a new request and its first run: one at a time (below)
                    with _first_run_lock:
                        request = compiled.create_infer_request()
                        outs = _infer(compiled, request, blob)
                else:
                    outs = _infer(compiled, request, blob)
            finally:
                if dynamic:
                    self._dynamic_done(compiled, big)
            if self.dynamic:
                # varied sizes leave free pages in the C heap (their buffers differ in size
                # each run): give them back now and then
                self._runs += 1  # (unlocked: a lost count only delays one trim)
                if self._runs % self.trim_every == 0:
                    memory.malloc_trim()
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
        model, shared by its requests) grow to the largest input met and stay. After a big
        input they are released once no run is in flight on it (OpenVINO refuses to release a
        busy model; a run starting meanwhile waits on the lock), and the C heap's free pages go
        back to the OS."""
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
        memory.malloc_trim()


def _taking_rgb_images(model):
    """``model`` (NCHW BGR 0-255 float32 input) taking NHWC RGB uint8 images instead: the
    conversion in the graph, computed by OpenVINO's threads (no float copy of the image made
    in Python: ~2 ms of a 640×480 detection)."""
    ov = import_openvino()
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).reverse_channels()
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    return ppp.build()


def _infer(compiled, request, blob: np.ndarray) -> list[np.ndarray]:
    request.infer({0: blob})
    return [np.array(request.get_output_tensor(i).data, dtype=np.float32, copy=True)
            for i in range(len(compiled.outputs))]


def _cache_dir() -> Path | None:
    """Where compiled shipped (int8) graphs are cached: ``<cache>/models/openvino``."""
    from lookalike.runtime.weights import model_cache_dir

    folder = model_cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


#: The layout of a kept variant's IR (its file name changes with it).
IR_VERSION = 1


def variant_ir(folder: Path, source: Path, precision: str, rgb_images: bool,
               dims: list[int]) -> Path | None:
    """The IR file (``.xml``, its weights beside it in ``.bin``) of ``source``'s graph at
    ``precision`` with input ``dims`` (and the RGB image input, if ``rgb_images``), in
    ``folder``; None if ``source`` is gone. The name is a digest of everything the graph is
    made from: the source's path, size and modification time (and the shipped int8 graph's,
    at int8; as :func:`lookalike.runtime.weights.int8_model` keys them), the fold version,
    the preprocessing, the shape and the OpenVINO version: a changed source gets a new file,
    never a stale one."""
    from lookalike.runtime.weights import FOLD_VERSION

    parts = [f"ir{IR_VERSION}", f"fold{FOLD_VERSION}", precision, f"rgb{int(rgb_images)}",
             ",".join(map(str, dims)), import_openvino().get_version()]
    files = [Path(source)]
    if precision == "int8":
        xml = int8_model(source)
        if xml is None:
            return None
        files += [xml, xml.with_suffix(".bin")]
    try:
        for f in files:
            st = f.stat()
            parts += [str(f.resolve()), str(st.st_size), str(st.st_mtime_ns)]
    except OSError:
        return None
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
    return folder / f"{Path(source).stem}-{digest}.xml"


#: How a :func:`save_ir` writer's temporary folder is named: its process, then a random part.
_WRITER = ".tmp-{}-"


def save_ir(model, xml: Path) -> bool:
    """``model`` written to ``xml`` (and its ``.bin``) at full precision, atomically: into a
    temporary folder beside it, flushed to disk (as :func:`lookalike.files.atomic_write` does:
    weights torn by a crash would compile and give other numbers), then the weights and the
    graph moved into place (the graph last: a graph file is only ever beside its weights).
    False if the folder cannot be written (the caller compiles from memory). The temporary
    folder is named by the writer's process and locked while it writes: the folders of writers
    that died are removed first (:func:`clean_dead_writers`; SFace's weights are 38 MB)."""
    import fcntl
    import tempfile

    from lookalike.files import fsync_path

    ov = import_openvino()
    try:
        xml.parent.mkdir(parents=True, exist_ok=True)
        clean_dead_writers(xml.parent)
        prefix = _WRITER.format(os.getpid())
        with tempfile.TemporaryDirectory(dir=xml.parent, prefix=prefix) as tmp:
            lock = os.open(tmp, os.O_RDONLY)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                part = Path(tmp) / xml.name
                ov.save_model(model, str(part), compress_to_fp16=False)
                for f in (part.with_suffix(".bin"), part):
                    fsync_path(f)
                os.replace(part.with_suffix(".bin"), xml.with_suffix(".bin"))
                os.replace(part, xml)
            finally:
                os.close(lock)
    except (OSError, RuntimeError):
        return False
    with contextlib.suppress(OSError):  # the renames made durable, as atomic_write does
        fsync_path(xml.parent)
    return True


def clean_dead_writers(folder: Path) -> list[Path]:
    """Remove the temporary folders in ``folder`` that :func:`save_ir` writers left when they
    died (killed mid-write; :func:`lookalike.files.remove_abandoned`). Returns what was
    removed."""
    from lookalike.files import remove_abandoned

    removed = []
    for d in folder.glob(_WRITER.format("*") + "*"):
        try:
            pid = int(d.name.split("-")[1])
        except (ValueError, IndexError):
            continue
        if remove_abandoned(d, pid):
            removed.append(d)
    return removed


def compile_cpu(model, *, precision: str = "f32", dynamic: bool = False,
                cache_dir: Path | None = None, streams: int = 1) -> tuple[object, Path | None]:
    """``model`` (an ``openvino.Model``, or the path of an IR file) compiled for the CPU
    under the process's policy (threads, pinning; ``precision``), through OpenVINO's
    compiled-model cache in ``cache_dir`` when given: (the compiled model, ``cache_dir``, or
    None when the cache could not be used: a read-only folder, a full disk). ``streams`` 1:
    one inference at a time on every thread (the lowest wait); N: N inferences at once, the
    threads shared among them (photos side by side, :mod:`lookalike.runtime.lanes`: the least
    CPU per photo). Every OpenVINO network of the project compiles here (also the "why"
    explanation's SFace cut at its last map)."""
    config = {
        "INFERENCE_NUM_THREADS": threads(),
        "NUM_STREAMS": streams,
        "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        # an int8 graph's own quantised layers run int8; the rest computes in f32
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "ENABLE_CPU_PINNING": pin_threads(),
    }
    if dynamic:
        # the CPU plugin caches kernels for every input size a dynamic model meets (5,000
        # by default): under varied uploads a web server's memory grew with them
        config["CPU_RUNTIME_CACHE_CAPACITY"] = 0
    if cache_dir is not None:
        # OpenVINO's compiled-model cache: the next process skips compiling
        try:
            return ov_core().compile_model(model, "CPU",
                                           {**config, "CACHE_DIR": str(cache_dir)}), cache_dir
        except RuntimeError:  # the folder went read-only, full disk: compile anyway
            pass
    return ov_core().compile_model(model, "CPU", config), None
