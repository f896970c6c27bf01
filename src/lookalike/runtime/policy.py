"""Which runtime, how many threads, what precision: the process's choices, read from the
environment (``LOOKALIKE_BACKEND``, ``LOOKALIKE_THREADS``, ``LOOKALIKE_PRECISION``) and from the
kind of process (one photo at a time, or photos side by side in N processes).

The measurements behind the defaults are in BENCHMARKS.md ("Inference threads") and
bench/studies/speed/NOTES-runtime.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.errors import LookalikeError
from lookalike.runtime.openvino_import import import_openvino, openvino_available
from lookalike.runtime.weights import int8_model

BACKENDS = ("openvino", "opencv")
#: ``f32``: every network in f32 (the default). ``bf16``: OpenVINO computes in bf16 where the
#: CPU has it. ``int8``: networks that ship an int8 graph (SFace) run it; the others run f32.
PRECISIONS = ("f32", "bf16", "int8")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip().lower()


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


def check_precision(want: str) -> str:
    if want not in PRECISIONS:
        raise LookalikeError(f"unknown precision {want!r}",
                             fix=f"choose one of {', '.join(PRECISIONS)} (LOOKALIKE_PRECISION)")
    return want


def requested_precision() -> str:
    """``$LOOKALIKE_PRECISION``, or the default (f32)."""
    return check_precision(_env("LOOKALIKE_PRECISION") or "f32")


def precision_name(backend: str | None = None, source: Path | None = None,
                   requested: str | None = None) -> str:
    """The precision a network runs at: ``requested`` (default ``$LOOKALIKE_PRECISION``, f32)
    on OpenVINO; f32 on OpenCV (its dnn computes in f32 only on a CPU). With ``source`` (the
    network's ONNX file), ``int8`` holds only for a network that ships an int8 graph; the
    others run f32."""
    want = check_precision(requested) if requested else requested_precision()
    if (backend or backend_name()) != "openvino":
        return "f32"
    if want == "int8" and source is not None:
        return "int8" if int8_model(source) is not None else "f32"
    return want


_DEFAULT_THREADS: list[int | None] = [None]  # None: every usable core


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def set_default_threads(n: int | None) -> None:
    """Threads per inference (and OpenCV's) when ``LOOKALIKE_THREADS`` is unset: ``None`` =
    every usable core, for a process that analyses one photo at a time (predict, compare,
    train, evaluate, the web server: the lowest wait per photo); 1 where photos run side by
    side in N processes on N cores (the ``--workers`` pool, Dask workers: the least CPU per
    photo). Call it before the first inference."""
    _DEFAULT_THREADS[0] = n
    if n is not None:
        import cv2

        cv2.setNumThreads(n)


def env_count(name: str) -> int | None:
    """A whole number of at least 1 from the environment variable ``name`` (None: unset); a
    value that is not a number is a one-line error naming the variable."""
    raw = _env(name)
    if not raw:
        return None
    try:
        return max(1, int(raw))
    except ValueError:
        raise LookalikeError(f"{name}={raw!r} is not a number",
                             fix="set it to a whole number such as 1 or 2") from None


def threads() -> int:
    return env_count("LOOKALIKE_THREADS") or _DEFAULT_THREADS[0] or usable_cores()


def pin_threads() -> bool:
    """Whether OpenVINO pins its inference threads to cores: only when they span every usable
    core (a one-photo process). One-thread processes side by side must not pin: OpenVINO put
    them all on the same core."""
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
