"""Occlude inside SFace instead of in the pixels? (issue 24, the "why" explanation's method.)

One command:
``python -m bench.studies.why.bench_why_cut [--pairs 80] [--cuts conv_6_relu,conv_12_relu]``.

SFace's graph is cut at an intermediate feature map (``onnx.utils.extract_model`` on the fp32
graph the runtime folds into the user cache): the first half runs once per face (and once on
its blurred copy, the fill), each part is hidden by blending the two feature maps with the
part's soft mask resized to the map's grid, and only the second half runs on the hidden maps.
Against the default (the parts hidden in the pixels, ``lookalike.answer.why``), on the same
pairs as ``bench_why.py`` and its same tests: deletion (pixel-space, mean fill, first
vs last part), same full ranking under a mirror and a 2 px shift of the aligned crops. Also
the cost of each half against the whole network (CPU ms, same run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import data_home, machine, save  # noqa: E402
from bench.studies.why.bench_why import (  # noqa: E402
    SHIFTS_2PX,
    deletion_mask,
    faced_pairs,
    lookalike_pairs,
    same_pairs,
    shift,
)
from lookalike.answer.why import DEFAULT_PARTS, occlude, part_masks  # noqa: E402
from lookalike.face.pipeline import FacePipeline  # noqa: E402
from lookalike.measure.benchmark import find_pairs, parse_pairs  # noqa: E402

DIRS = SHIFTS_2PX


class Halves:
    """SFace cut at ``cut``: ``first(x)`` the feature map, ``second(h)`` the raw vector."""

    def __init__(self, cut: str, folder: Path):
        import onnx.utils
        import openvino as ov

        from lookalike.face.embedders import sface_path
        from lookalike.runtime import fp32_onnx, threads

        src, _ = fp32_onnx(sface_path())
        core = ov.Core()
        self.parts = []
        for a, b in (("data", cut), (cut, "fc1")):
            path = folder / f"sface_{a}_{b}.onnx"
            if not path.exists():
                onnx.utils.extract_model(str(src), str(path), [a], [b], check_model=False)
            m = core.read_model(str(path))
            shape = m.inputs[0].get_partial_shape()
            shape[0] = ov.Dimension(-1)
            m.reshape({m.inputs[0]: shape})
            self.parts.append(core.compile_model(m, "CPU", {
                "INFERENCE_NUM_THREADS": threads(), "INFERENCE_PRECISION_HINT": "f32"}))

    def first(self, x: np.ndarray) -> np.ndarray:
        return self.parts[0](np.ascontiguousarray(x, np.float32))[0]

    def second(self, h: np.ndarray) -> np.ndarray:
        return self.parts[1](np.ascontiguousarray(h, np.float32))[0]


def nchw(views: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(views).transpose(0, 3, 1, 2), dtype=np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), -1)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def pixel_drops(net, masks: np.ndarray, va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """The default method: each part hidden in the pixels (blur fill), one face at a time."""
    n = len(masks)
    batch = np.concatenate([occlude(va, masks, 8.0), occlude(vb, masks, 8.0), np.stack([va, vb])])
    e = unit(net(nchw(batch)))
    ea, eb = e[2 * n], e[2 * n + 1]
    s = ea @ eb
    return ((s - e[:n] @ eb) + (s - e[n:2 * n] @ ea)) / 2


def cut_drops(halves: Halves, grid: np.ndarray, va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Each part hidden in the cut feature map: blended with the blurred face's map."""
    import cv2

    fills = [cv2.GaussianBlur(v.astype(np.float32), (0, 0), 8.0) for v in (va, vb)]
    h = halves.first(nchw(np.stack([va, vb, *fills])))
    g = grid[:, None]
    batch = np.concatenate([h[:2], h[0][None] * (1 - g) + h[2][None] * g,
                            h[1][None] * (1 - g) + h[3][None] * g])
    e = unit(halves.second(batch))
    n = len(grid)
    ea, eb = e[0], e[1]
    s = ea @ eb
    return ((s - e[2:2 + n] @ eb) + (s - e[2 + n:] @ ea)) / 2


def evaluate(fn, net, masks, items, rng) -> dict:
    rank = lambda d: list(np.argsort(-d, kind="stable"))  # noqa: E731
    dele, mirror, moved, first_m, first_s = [], [], [], [], []
    for va, vb, ea, eb in items:
        r = rank(fn(va, vb))
        sel = masks[[r[0], r[-1]]]
        e = unit(net(nchw(np.concatenate([deletion_mask(va, sel, "mean"),
                                          deletion_mask(vb, sel, "mean")]))))
        s = float(ea @ eb)
        dele.append(2 * s - e[0] @ eb - ea @ e[2] > 2 * s - e[1] @ eb - ea @ e[3])
        rm = rank(fn(np.ascontiguousarray(va[:, ::-1]), np.ascontiguousarray(vb[:, ::-1])))
        dx, dy = DIRS[int(rng.integers(len(DIRS)))]
        rs = rank(fn(shift(va, dx, dy), shift(vb, dx, dy)))
        mirror.append(rm == r)
        moved.append(rs == r)
        first_m.append(rm[0] == r[0])
        first_s.append(rs[0] == r[0])
    pct = lambda v: round(100.0 * float(np.mean(v)), 1)  # noqa: E731
    return {"deletion_first_beats_last_pct": pct(dele), "mirror_same_ranking_pct": pct(mirror),
            "mirror_same_first_pct": pct(first_m), "shift2px_same_ranking_pct": pct(moved),
            "shift2px_same_first_pct": pct(first_s), "pairs": len(items)}


def cpu_ms(fn, x, repeat: int = 20) -> float:
    for _ in range(3):
        fn(x)
    t = []
    for _ in range(repeat):
        c = time.process_time()
        fn(x)
        t.append(time.process_time() - c)
    return float(np.median(t)) * 1000


def main(argv: list[str] | None = None) -> int:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=80, help="pairs of each kind")
    ap.add_argument("--cuts", default="conv_6_relu,conv_12_relu,conv_14_relu",
                    help="SFace tensors to cut at (28x28, 14x14, 7x7 maps)")
    ap.add_argument("--name", default="why_cut")
    args = ap.parse_args(argv)
    start = machine()
    pipe = FacePipeline("sface")
    net = pipe.embedder._network().run
    full = lambda x: net(x)[0]  # noqa: E731
    masks = np.asarray(part_masks(112, 0.0, DEFAULT_PARTS))
    lfw_dir, pairs_txt = find_pairs(data_home())
    pairs = parse_pairs(pairs_txt.read_text(), lfw_dir)
    sets = {"same_person": same_pairs(pairs, args.pairs),
            "lookalike": [(a, b) for a, b, _ in lookalike_pairs(pipe, pairs, args.pairs, True)]}
    from lookalike.answer.why import Explainer

    ex = Explainer(pipe.embedder)
    loaded = {name: [(ex.view(fa[0], fa[1]), ex.view(fb[0], fb[1]), fa[2], fb[2])
                     for fa, fb in faced_pairs(pipe, pl)] for name, pl in sets.items()}
    folder = Path(__import__("tempfile").mkdtemp(prefix="why-cut-"))
    variants = {"pixels (default)": lambda va, vb: pixel_drops(full, masks, va, vb)}
    halves = {}
    for cut in args.cuts.split(","):
        halves[cut] = Halves(cut, folder)
        side = halves[cut].first(nchw(loaded["same_person"][0][0][None])).shape[-1]
        grid = np.stack([cv2.resize(m, (side, side), interpolation=cv2.INTER_AREA)
                         for m in masks])
        variants[f"feature map {cut} ({side}x{side})"] = (
            lambda va, vb, h=halves[cut], g=grid: cut_drops(h, g, va, vb))
    out: dict = {"machine": start, "variants": {}}
    for label, fn in variants.items():
        out["variants"][label] = {}
        for name, items in loaded.items():
            res = evaluate(fn, full, masks, items, np.random.default_rng(0))
            out["variants"][label][name] = res
            print(label, name, res, flush=True)
    one = nchw(loaded["same_person"][0][0][None])
    bare = cpu_ms(full, one)
    cost = {"bare_sface_cpu_ms": round(bare, 2)}
    for cut, h in halves.items():
        hm = h.first(one)
        cost[cut] = {"first_half_in_bare": round(cpu_ms(h.first, one) / bare, 2),
                     "second_half_x8_in_bare": round(cpu_ms(h.second, np.repeat(hm, 8, 0))
                                                     / bare, 2)}
    cost["full_x8_in_bare"] = round(cpu_ms(full, np.repeat(one, 8, 0)) / bare, 2)
    out["cost"] = cost
    out["load_average_at_end"] = [round(v, 2) for v in __import__("os").getloadavg()]
    print("cost", cost)
    save(args.name, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
