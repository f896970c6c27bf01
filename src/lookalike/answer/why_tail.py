"""SFace's likeness as a sum over its last feature map's cells (the "why" explanation's default
method for SFace f32, :mod:`lookalike.answer.why`).

SFace (a MobileFaceNet) ends in affine layers only: its last 7×7×1024 map (``conv_14_relu``)
goes through a batch norm, is flattened, and a linear layer and a batch norm make the 128-d
raw vector. So a face's raw vector is exactly a sum over the map's 49 cells plus a constant,
``raw = Σ_cells W[:, :, cell] · h[:, cell] + const``, and the cosine of two faces splits
exactly over the cells of either face: ``cos(a, b) = Σ_cells (W h_a)[cell] · b̂ / |a| +
const · b̂ / |a|``. :class:`SFaceTail` runs SFace f32 (OpenVINO) up to that map and folds the
affine layers after it into ``W`` and ``const`` (checked against the whole network's vector);
the per-cell products ``W[:, :, cell] · h[:, cell]`` are computed by OpenVINO in the same
inference (one batched matrix product over the cells, ~5 % of the network's time), so the
split costs numpy almost nothing. Nothing is loaded until the first explanation.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

#: The map the affine tail starts from, and its grid.
CUT = "conv_14_relu"
CELLS = 7


class SFaceTail:
    """SFace f32 to its last 7×7 map, and the affine layers after it folded in numpy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled = None
        self._request = None
        self.w: np.ndarray | None = None  # (128, 1024, 49) float32
        self.const: np.ndarray | None = None  # (128,)

    def _load(self) -> None:
        from lookalike.face.embedders import sface_path
        from lookalike.runtime import fp32_onnx, import_openvino
        from lookalike.runtime.openvino_import import ov_core
        from lookalike.runtime.openvino_net import compile_cpu

        ov = import_openvino()
        path, data = fp32_onnx(sface_path())
        self.w, self.const = _folded_tail(path, data)
        model = ov_core().read_model(str(path) if path is not None else data)
        out = next(op.output(0) for op in model.get_ops() if CUT in op.output(0).get_names())
        cut = ov.Model([_cell_parts(out, self.w), out], model.get_parameters(),
                       "sface_to_" + CUT)
        cut.reshape({cut.inputs[0]: ov.PartialShape([-1, 3, 112, 112])})
        # (the runtime's compile: the process's threads and pinning, its compiled-model cache)
        self._compiled, _ = compile_cpu(
            cut, cache_dir=path.parent / "openvino" if path is not None else None)
        self._request = self._compiled.create_infer_request()

    def _infer(self, views: np.ndarray, output: int) -> np.ndarray:
        blob = np.ascontiguousarray(np.asarray(views).transpose(0, 3, 1, 2), dtype=np.float32)
        with self._lock:
            if self._compiled is None:
                self._load()
            self._request.infer({0: blob})
            return np.array(self._request.get_output_tensor(output).data, np.float32, copy=True)

    def cells(self, views: np.ndarray) -> np.ndarray:
        """``(n, 128, 49)``: each cell's part of the raw SFace vector of ``(n, 112, 112, 3)``
        RGB uint8 views (summed over the cells, plus ``const``: the raw vector)."""
        return self._infer(views, 0).transpose(1, 2, 0)

    def maps(self, views: np.ndarray) -> np.ndarray:
        """``(n, 1024, 49)``: the last map of ``(n, 112, 112, 3)`` RGB uint8 views."""
        out = self._infer(views, 1)
        return out.reshape(len(out), out.shape[1], -1)

    def raw(self, cells: np.ndarray) -> np.ndarray:
        """``(n, 128)``: the raw (unnormalised) SFace vectors of :meth:`cells`' ``cells``."""
        return cells.sum(axis=2) + self.const

    def cell_shares(self, cells: np.ndarray) -> tuple[np.ndarray, float]:
        """For two faces' :meth:`cells`: ``(2, 49)``, each cell's part of the cosine — row 0
        face a's cells (against b̂), row 1 face b's (against â) — and the cosine. Each row plus
        its face's constant term sums to the cosine exactly."""
        raw = self.raw(cells)
        norm = np.linalg.norm(raw, axis=1)
        unit = raw / norm[:, None]
        rows = np.einsum("nd,ndx->nx", unit[::-1], cells) / norm[:, None]
        return rows, float(unit[0] @ unit[1])


def _cell_parts(out, w: np.ndarray):
    """OpenVINO ops on the map ``out`` ``(n, 1024, 7, 7)``: ``(49, n, 128)``, each cell's
    ``W[:, :, cell] · h[:, cell]`` (one matrix product per cell, batched)."""
    import openvino.opset13 as ops

    flat = ops.reshape(out, ops.constant(np.array([0, w.shape[1], w.shape[2]], np.int64)),
                       special_zero=True)
    by_cell = ops.transpose(flat, ops.constant(np.array([2, 0, 1], np.int64)))  # (49, n, 1024)
    wt = ops.constant(np.ascontiguousarray(w.transpose(2, 1, 0)))  # (49, 1024, 128)
    return ops.matmul(by_cell, wt, False, False).output(0)


#: The folded tail's file in the model cache (beside the fp32 graph): its version.
FOLD_VERSION = 1


def _folded_tail(path: Path | None, data: bytes | None) -> tuple[np.ndarray, np.ndarray]:
    """``W`` ``(128, 1024, 49)`` and ``const`` ``(128,)`` of the affine layers after
    :data:`CUT`, read from the model cache (``<fp32 graph>-tail-v1.npz``) or folded from the
    fp32 graph (importing ``onnx`` takes a second or two: once per machine) and cached."""
    import contextlib

    cache = (path.parent / f"{path.stem}-tail-v{FOLD_VERSION}.npz") if path is not None else None
    if cache is not None and cache.exists():
        with contextlib.suppress(Exception):  # damaged or half-written: fold again
            with np.load(cache) as z:
                w, const = z["w"], z["const"]
            if w.shape == (128, 1024, CELLS * CELLS) and const.shape == (128,):
                return w, const
    w, const = _fold(path, data)
    if cache is not None:
        from lookalike.errors import LookalikeError
        from lookalike.files import atomic_write

        with contextlib.suppress(OSError, LookalikeError):
            atomic_write(cache, lambda fh: np.savez(fh, w=w, const=const))
    return w, const


def _fold(path: Path | None, data: bytes | None) -> tuple[np.ndarray, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)) if path is not None else onnx.load_from_string(data)
    wanted = {"pre_fc1_weight_dequantized", "pre_fc1_bias_dequantized"} | {
        f"{layer}_{k}" for layer in ("bn1", "fc1")
        for k in ("gamma", "beta", "moving_mean", "moving_var")}
    g = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer if i.name in wanted}
    g = {k: v.astype(np.float32 if v.size > 4096 else np.float64, copy=False)
         for k, v in g.items()}
    eps = {n.name: next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
           for n in graph.graph.node if n.name in ("bn1", "fc1")}
    del graph

    def bn(name: str) -> tuple[np.ndarray, np.ndarray]:
        s = g[name + "_gamma"] / np.sqrt(g[name + "_moving_var"] + eps[name])
        return s, g[name + "_beta"] - s * g[name + "_moving_mean"]

    s1, t1 = bn("bn1")
    s2, t2 = bn("fc1")
    cells = CELLS * CELLS
    # (128, 1024 * 49): flattened channel, y, x (a writable copy: the graph's is not)
    w = np.array(g.pop("pre_fc1_weight_dequantized"), np.float32)
    const = (s2 * (w @ np.repeat(t1, cells).astype(np.float32)
                   + g["pre_fc1_bias_dequantized"]) + t2).astype(np.float32)
    w *= s2[:, None].astype(np.float32)  # (in place: one copy of the 26 MB matrix)
    w *= np.repeat(s1, cells)[None].astype(np.float32)
    return w.reshape(len(s2), -1, cells), const


_TAIL: SFaceTail | None = None
_TAIL_LOCK = threading.Lock()


def sface_tail() -> SFaceTail:
    """The process's one :class:`SFaceTail` (loaded on its first use)."""
    global _TAIL
    if _TAIL is None:
        with _TAIL_LOCK:
            if _TAIL is None:
                _TAIL = SFaceTail()
    return _TAIL


__all__ = ["CELLS", "CUT", "SFaceTail", "sface_tail"]
