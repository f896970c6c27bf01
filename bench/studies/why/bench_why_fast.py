"""A cheaper "why" (issue 24, third pass): int8 occluded crops, or SFace's own linear tail?

One command:
``python -m bench.studies.why.bench_why_fast [--pairs 60]``.

On the pairs of ``bench_why.py`` (LFW same-person pairs over the 10 folds; the most similar
different-person pairs among pairs.txt's first 3,000 photos), each method ranks the 4 parts:

- ``pixels_f32``: the default (``lookalike.answer.why``): each part hidden in the pixels of one
  face at a time (blur fill), 8 occluded crops through SFace f32; drops from the f32 vectors.
- ``pixels_int8_f32base``: the same 8 occluded crops through the shipped int8 SFace, their
  similarity to the other face's f32 vector (known) against the pair's f32 similarity.
- ``pixels_int8``: the same, every vector int8 (2 more crops: 10).
- ``pixels_f32_one_face``: hiding the parts in face a only (4 crops).
- ``tail``: no occlusion. SFace ends in affine layers over its last 7×7×1024 map
  (``conv_14_relu`` → BN → flatten → Gemm → BN), so face a's raw vector is a sum over the 49
  cells plus a constant, and cos(a, b) = Σ_cells (cell's part of a) · b̂ / |a| + const · b̂ / |a|
  exactly. A part's contribution is the sum over cells weighted by the part's soft mask's
  coverage of each cell (area-resized to 7×7); both faces' averaged.
- ``tail_centred``: the same with each cell's vector taken against the mean over the 49 cells
  (what the cell adds beyond the face's average cell).

Tests as ``bench_why.py``: deletion on the **f32** network (first vs last part hidden with the
face's mean colour, hard edges, one face at a time); full ranking / first part the same under
a mirror and a 2 px shift of both crops; also with ties — parts whose scores (drop or
contribution) differ by less than ``tau`` form one rank — strict ranking equal, tie-aware
weak order equal, and no pair of parts reversed; the fraction of pairs where any tie is made.
Also the agreement of each method's full ranking with ``pixels_f32``.

``--cost REPEAT``: CPU and wall time of each method per explained pair (the pair's vectors
known), interleaved with a bare SFace inference; ``contribution_explainer`` is
``lookalike.answer.why.Explainer(method="contribution")`` as the product runs it (heat map
and all), ``tail_centred`` the bare computation.
"""

from __future__ import annotations

import argparse

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
from bench.studies.why.bench_why_cut import nchw, unit  # noqa: E402
from lookalike.answer.why import (  # noqa: E402
    DEFAULT_PARTS,
    Explainer,
    occlude,
    part_cells,
    part_masks,
)
from lookalike.face.embedders import SFaceEmbedder  # noqa: E402
from lookalike.face.pipeline import FacePipeline  # noqa: E402
from lookalike.measure.lfw import find_pairs, parse_pairs  # noqa: E402

DIRS = SHIFTS_2PX


class Tail:
    """The product's SFace tail (:mod:`lookalike.answer.why_tail`: SFace to its last 7×7 map,
    the affine layers after it folded), with the study's per-cell view of a raw vector."""

    def __init__(self) -> None:
        from lookalike.answer.why_tail import sface_tail

        self.tail = sface_tail()
        self.maps(np.zeros((1, 112, 112, 3), np.uint8))  # loaded (w and const folded)
        self.w, self.const = self.tail.w, self.tail.const
        self.w64 = self.w.astype(np.float64)

    def maps(self, views: np.ndarray) -> np.ndarray:
        """``(n, 1024, 49)``: the last map of RGB 112 views."""
        return self.tail.maps(views)

    def cells(self, views: np.ndarray) -> np.ndarray:
        """``(n, 128, 49)``: each cell's part of each view's raw vector (sum + const = raw)."""
        return np.einsum("dcx,ncx->ndx", self.w64, self.maps(views).astype(np.float64))


def tail_scores(tail: Tail, grid: np.ndarray, va, vb, centred: bool) -> tuple:
    c = tail.cells(np.stack([va, vb]))
    raw = c.sum(axis=2) + tail.const
    n = np.linalg.norm(raw, axis=1)
    u = raw / n[:, None]
    out = []
    for i, j in ((0, 1), (1, 0)):
        ci = c[i] - c[i].mean(axis=1, keepdims=True) if centred else c[i]
        per_cell = (u[j] @ ci) / n[i]  # (49,)
        out.append(grid @ per_cell)
    return out[0], out[1]


def pixel_scores(net32, net8, masks, va, vb, ea, eb) -> dict:
    n = len(masks)
    occ = np.concatenate([occlude(va, masks, 8.0), occlude(vb, masks, 8.0)])
    e32 = unit(net32(nchw(occ)))
    e8 = unit(net8(nchw(np.concatenate([occ, np.stack([va, vb])]))))
    s = float(ea @ eb)
    out = {"pixels_f32": (s - e32[:n] @ eb, s - e32[n:] @ ea),
           "pixels_int8_f32base": (s - e8[:n] @ eb, s - e8[n:2 * n] @ ea)}
    a8, b8 = e8[2 * n], e8[2 * n + 1]
    s8 = float(a8 @ b8)
    out["pixels_int8"] = (s8 - e8[:n] @ b8, s8 - e8[n:2 * n] @ a8)
    out["pixels_f32_one_face"] = (out["pixels_f32"][0], out["pixels_f32"][0])
    return out


def order(score: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-score, kind="stable")]


def weak(score: np.ndarray, tau: float) -> list[frozenset]:
    """The ranking with ties: consecutive parts (by score) less than ``tau`` apart share a
    rank."""
    o = order(score)
    groups = [[o[0]]]
    for prev, cur in zip(o, o[1:], strict=False):
        if score[prev] - score[cur] < tau:
            groups[-1].append(cur)
        else:
            groups.append([cur])
    return [frozenset(g) for g in groups]


def rank_of(groups: list[frozenset]) -> dict[int, int]:
    return {p: k for k, g in enumerate(groups) for p in g}


def reversed_pair(g1: list[frozenset], g2: list[frozenset]) -> bool:
    r1, r2 = rank_of(g1), rank_of(g2)
    ps = list(r1)
    return any((r1[p] - r1[q]) * (r2[p] - r2[q]) < 0 for p in ps for q in ps)


def cost(pipe: FacePipeline, net8, tail: Tail, grid: np.ndarray, items, repeat: int) -> dict:
    """CPU and wall ms (p50) of each method on one explained pair (the pair's f32 vectors
    known, as in ``compare``), interleaved with a bare SFace f32 inference (batch of 1)."""
    import time

    net = pipe.embedder._network()
    ex = Explainer(pipe.embedder, method="occlusion")
    why = Explainer(pipe.embedder, method="contribution")
    masks = np.asarray(part_masks(112, 0.0, DEFAULT_PARTS))
    w32 = tail.w

    def pixels_int8(va, vb, ea, eb):
        occ = np.concatenate([occlude(va, masks, 8.0), occlude(vb, masks, 8.0)])
        e = unit(net8(nchw(occ)))
        s = float(ea @ eb)
        return (s - e[:4] @ eb + s - e[4:] @ ea) / 2

    def tail_fast(va, vb, ea, eb):
        h = tail.maps(np.stack([va, vb]))
        raw = np.einsum("dcx,ncx->nd", w32, h) + tail.const
        n = np.linalg.norm(raw, axis=1)
        u = raw / n[:, None]
        out = 0.0
        for i, j in ((0, 1), (1, 0)):
            v = np.tensordot(u[j].astype(np.float32), w32, axes=1)  # (1024, 49)
            cell = (v * h[i]).sum(axis=0) / n[i]
            out = out + grid @ (cell - cell.mean())
        return out / 2

    methods = {"pixels_f32": lambda va, vb, ea, eb: ex.explain_views(va, vb, (ea, eb)),
               "pixels_int8_f32base": pixels_int8, "tail_centred": tail_fast,
               "contribution_explainer": lambda va, vb, ea, eb: why.explain_views(
                   va, vb, (ea, eb))}
    one = nchw(items[0][0][None])
    times: dict[str, tuple[list, list]] = {k: ([], []) for k in ["bare", *methods]}
    for _ in range(3):
        net.run(one)
        for fn in methods.values():
            fn(*items[0])
    for r in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        net.run(one)
        times["bare"][0].append(time.perf_counter() - t)
        times["bare"][1].append(time.process_time() - c)
        for k, fn in methods.items():
            t, c = time.perf_counter(), time.process_time()
            fn(*items[r % len(items)])
            times[k][0].append(time.perf_counter() - t)
            times[k][1].append(time.process_time() - c)
    med = {k: (float(np.median(w)) * 1000, float(np.median(c)) * 1000)
           for k, (w, c) in times.items()}
    out = {k: {"wall_ms_p50": round(w, 1), "cpu_ms_p50": round(c, 1),
               "wall_in_bare": round(w / med["bare"][0], 2),
               "cpu_in_bare": round(c / med["bare"][1], 2)} for k, (w, c) in med.items()}
    out["repeat"] = repeat
    out["threads"] = __import__("lookalike.runtime", fromlist=["threads"]).threads()
    return out


def main(argv: list[str] | None = None) -> int:

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=60, help="pairs of each kind")
    ap.add_argument("--taus", default="0.005,0.01,0.02", help="tie widths (score units)")
    ap.add_argument("--name", default="why_fast")
    ap.add_argument("--cost", type=int, default=0, metavar="REPEAT",
                    help="only time the methods on 10 same-person pairs, REPEAT times")
    args = ap.parse_args(argv)
    taus = [float(t) for t in args.taus.split(",")]
    start = machine()
    pipe = FacePipeline("sface")
    net32 = lambda x: pipe.embedder._network().run(x)[0]  # noqa: E731
    int8 = SFaceEmbedder(precision="int8")
    net8 = lambda x: int8._network().run(x)[0]  # noqa: E731
    masks = np.asarray(part_masks(112, 0.0, DEFAULT_PARTS))
    grid = part_cells(tuple(DEFAULT_PARTS))
    tail = Tail()
    lfw_dir, pairs_txt = find_pairs(data_home())
    pairs = parse_pairs(pairs_txt.read_text(), lfw_dir)
    ex = Explainer(pipe.embedder)
    if args.cost:
        items = [(ex.view(fa[0], fa[1]), ex.view(fb[0], fb[1]), fa[2], fb[2])
                 for fa, fb in faced_pairs(pipe, same_pairs(pairs, 10))]
        res = {"machine": start, "cost": cost(pipe, net8, tail, grid, items, args.cost),
               "load_average_at_end": [round(v, 2) for v in __import__("os").getloadavg()]}
        print(res["cost"])
        save(args.name, res)
        return 0
    sets = {"same_person": same_pairs(pairs, args.pairs),
            "lookalike": [(a, b) for a, b, _ in lookalike_pairs(pipe, pairs, args.pairs, True)]}

    def scores(va, vb, ea=None, eb=None) -> dict:
        if ea is None:
            ea, eb = unit(net32(nchw(np.stack([va, vb]))))
        out = pixel_scores(net32, net8, masks, va, vb, ea, eb)
        out["tail"] = tail_scores(tail, grid, va, vb, False)
        out["tail_centred"] = tail_scores(tail, grid, va, vb, True)
        return {k: (np.asarray(a) + np.asarray(b)) / 2 for k, (a, b) in out.items()}

    res: dict = {"machine": start, "taus": taus}
    rng = np.random.default_rng(0)
    for name, pl in sets.items():
        items = [(ex.view(fa[0], fa[1]), ex.view(fb[0], fb[1]), fa[2], fb[2])
                 for fa, fb in faced_pairs(pipe, pl)]
        rows: dict[str, dict[str, list]] = {}
        for va, vb, ea, eb in items:
            base = scores(va, vb, ea, eb)
            mir = scores(np.ascontiguousarray(va[:, ::-1]), np.ascontiguousarray(vb[:, ::-1]))
            dx, dy = DIRS[int(rng.integers(len(DIRS)))]
            sh = scores(shift(va, dx, dy), shift(vb, dx, dy))
            ref = order(base["pixels_f32"])
            for meth, sc in base.items():
                r = rows.setdefault(meth, {})
                o = order(sc)
                sel = masks[[o[0], o[-1]]]
                e = unit(net32(nchw(np.concatenate([deletion_mask(va, sel, "mean"),
                                                    deletion_mask(vb, sel, "mean")]))))
                s = float(ea @ eb)
                r.setdefault("deletion", []).append(
                    2 * s - e[0] @ eb - ea @ e[2] > 2 * s - e[1] @ eb - ea @ e[3])
                r.setdefault("same_as_pixels_f32", []).append(o == ref)
                r.setdefault("first_as_pixels_f32", []).append(o[0] == ref[0])
                for lab, other in (("mirror", mir[meth]), ("shift2px", sh[meth])):
                    o2 = order(other)
                    r.setdefault(f"{lab}_full", []).append(o2 == o)
                    r.setdefault(f"{lab}_first", []).append(o2[0] == o[0])
                    for t in taus:
                        w1, w2 = weak(sc, t), weak(other, t)
                        r.setdefault(f"{lab}_weak_equal_tau{t}", []).append(w1 == w2)
                        r.setdefault(f"{lab}_no_reversal_tau{t}", []).append(
                            not reversed_pair(w1, w2))
                for t in taus:
                    r.setdefault(f"any_tie_tau{t}", []).append(len(weak(sc, t)) < len(sc))
                    r.setdefault(f"first_tied_tau{t}", []).append(len(weak(sc, t)[0]) > 1)
                r.setdefault("first", []).append(DEFAULT_PARTS[o[0]])
        summary = {}
        for meth, r in rows.items():
            firsts = r.pop("first")
            summary[meth] = {k: round(100.0 * float(np.mean(v)), 1) for k, v in r.items()}
            summary[meth]["first_part_counts"] = {p: firsts.count(p) for p in DEFAULT_PARTS}
            print(name, meth, summary[meth], flush=True)
        summary["pairs"] = len(items)
        res[name] = summary
    res["load_average_at_end"] = [round(v, 2) for v in __import__("os").getloadavg()]
    save(args.name, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
