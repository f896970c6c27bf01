"""The one interface every runtime implements, and the choice of runtime for a network."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Network(Protocol):
    """One ONNX network on one runtime, loaded on its first ``run``."""

    source: Path
    #: ``openvino`` or ``opencv``
    backend: str
    #: what it computes at: ``f32``, ``bf16`` or ``int8``
    precision: str
    #: how many times a graph was compiled (or read) for it, for tests and benchmarks
    compiles: int

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """The outputs (float32 arrays, in the graph's output order) for an NCHW float32
        input (NHWC uint8 RGB images where the network was opened with ``rgb_images``);
        several images in one input where it was opened with ``batch``."""
        ...


def open_network(source: Path, *, backend: str | None = None, precision: str | None = None,
                 max_shapes: int = 8, dynamic: bool = False, static_after: int = 2,
                 batch: bool = False, rgb_images: bool = False) -> Network:
    """``source`` on this process's runtime (:func:`lookalike.runtime.policy.backend_name`) at
    its precision (:func:`~lookalike.runtime.policy.precision_name`). Nothing is loaded yet.

    ``dynamic``: input sides change from run to run (YuNet on photos of any size);
    ``batch``: the first input dimension does (SFace on all faces of a photo at once);
    ``max_shapes`` / ``static_after``: how OpenVINO keeps compiled sizes (see
    :class:`~lookalike.runtime.openvino_net.OpenVINONetwork`); ``rgb_images``: for a network
    whose input is NCHW BGR 0-255 float32 (YuNet), ``run`` takes NHWC RGB uint8 images and the
    conversion is part of the graph on OpenVINO (no float copy of the image in Python; done
    here on OpenCV)."""
    from lookalike.runtime.policy import backend_name, precision_name

    name = backend_name(backend)
    prec = precision_name(name, Path(source), precision)
    if name == "openvino":
        from lookalike.runtime.openvino_net import OpenVINONetwork

        return OpenVINONetwork(source, precision=prec, max_shapes=max_shapes, dynamic=dynamic,
                               static_after=static_after, batch=batch, rgb_images=rgb_images)
    from lookalike.runtime.opencv_net import OpenCVNetwork

    return OpenCVNetwork(source, rgb_images=rgb_images)
