"""The inference layer every network goes through (YuNet, SFace, and any later ONNX model).

One interface, :class:`lookalike.runtime.network.Network` (``run(blob) -> outputs``), and one
small class per runtime behind it; :func:`open_network` picks the runtime:

- ``policy``: which runtime, how many threads, what precision (``LOOKALIKE_BACKEND``,
  ``LOOKALIKE_THREADS``, ``LOOKALIKE_PRECISION``, the CLI's ``--backend``);
- ``openvino_net``: :class:`OpenVINONetwork`, OpenVINO's CPU device (the default): compiled
  shapes, pooled infer requests, big inputs' buffers given back;
- ``opencv_net``: :class:`OpenCVNetwork`, OpenCV's dnn module, where ``openvino`` cannot be
  imported (a platform without its wheels); f32 only;
- ``weights``: the files they load: the shipped int8 weight-only graphs folded to fp32 once
  into the user cache, and the shipped int8 OpenVINO graphs (``runtime/int8/``);
- ``openvino_import``: importing OpenVINO without its telemetry, the process's one ``Core``;
- ``memory``: giving freed heap pages back to the OS.

Nothing is imported from OpenVINO or OpenCV, and nothing loaded, until a network first runs.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.errors import LookalikeError
from lookalike.runtime import network
from lookalike.runtime.network import open_network
from lookalike.runtime.openvino_import import import_openvino, openvino_available
from lookalike.runtime.policy import (
    BACKENDS,
    PRECISIONS,
    backend_name,
    describe,
    pin_threads,
    precision_name,
    set_default_threads,
    threads,
    usable_cores,
)
from lookalike.runtime.weights import fold_dequantize, fp32_onnx, int8_model

__all__ = [
    "BACKENDS", "PRECISIONS", "LookalikeError", "Network", "backend_name", "describe",
    "fold_dequantize", "fp32_onnx", "import_openvino", "int8_model", "open_network",
    "openvino_available", "pin_threads", "precision_name", "set_default_threads", "threads",
    "usable_cores",
]


def Network(source: Path, **options) -> network.Network:  # noqa: N802
    """The earlier spelling of :func:`open_network` (``runtime.Network(path, dynamic=True)``),
    kept while other branches still call it; the interface itself is
    :class:`lookalike.runtime.network.Network`."""
    return open_network(source, **options)
