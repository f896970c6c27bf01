"""A network on OpenCV's dnn module: the fallback where OpenVINO cannot be imported. It
computes in f32 from the folded fp32 graph, the numbers OpenCV's own ``FaceDetectorYN`` and
``FaceRecognizerSF`` compute from the shipped files."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from lookalike.runtime.policy import threads
from lookalike.runtime.weights import fp32_onnx


class OpenCVNetwork:
    """One ``cv2.dnn.Net``, used by one thread at a time (a ``Net`` keeps its input and
    buffers, so it cannot be shared); OpenCV's own threads run each inference."""

    backend = "opencv"
    precision = "f32"

    def __init__(self, source: Path, rgb_images: bool = False):
        self.source = Path(source)
        self.rgb_images = rgb_images
        self.compiles = 0
        self._net = None
        self._names: list[str] = []
        self._lock = threading.Lock()  # guards the Net: loading it, and each run

    def _load(self):
        import cv2

        path, data = fp32_onnx(self.source)
        net = (cv2.dnn.readNetFromONNX(str(path)) if path is not None
               else cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8)))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self._names = _onnx_outputs(path, data)
        self.compiles += 1
        return net

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        import cv2

        blob = bgr_blob(blob) if self.rgb_images else np.ascontiguousarray(blob, np.float32)
        with self._lock:
            if self._net is None:
                self._net = self._load()
            if cv2.getNumThreads() != threads():
                cv2.setNumThreads(threads())
            self._net.setInput(blob)
            outs = self._net.forward(self._names)
            return [np.asarray(o, np.float32).copy() for o in outs]


def bgr_blob(images: np.ndarray) -> np.ndarray:
    """NHWC RGB uint8 images as the NCHW BGR 0-255 float32 input a ``rgb_images`` network's
    graph expects (what OpenVINO does inside the graph; the OpenCV runtime here)."""
    return np.ascontiguousarray(images[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)


def _onnx_outputs(path: Path | None, data: bytes | None) -> list[str]:
    """The graph's output names, in order (OpenCV's unconnected-layer order differs)."""
    import onnx

    model = onnx.load_from_string(data) if data is not None else onnx.load(str(path))
    return [o.name for o in model.graph.output]
