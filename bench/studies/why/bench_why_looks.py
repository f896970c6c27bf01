"""Steadier "why" for SFace f32 (issue 24, fourth pass): the cells' contributions of every look
of every test condition, collected once, so that part weightings and look averagings can be
compared offline on the same pairs.

One command (collection, then the comparison):
``python -m bench.studies.why.bench_why_looks --pairs 100 --name why_looks`` →
``results/why_looks.npz`` and ``results/why_looks.json``.

The pairs, the conditions and the random 2 px moves are ``bench_why.py``'s (same seed, drawn in
the same order): for each pair, its views as the explainer reads them (``base``); both
mirrored (``mirror``); both moved 2 px (``crop``); the photos moved 2 px and their faces found
and aligned again (``photo``). Each condition's pair is looked at 10 ways, the pair as it is and
mirrored, each as it is and moved 1 px left, right, up and down; each look's two faces go to
SFace's last 7×7 map (:mod:`lookalike.answer.why_tail`) and give ``rows`` ``(2, 49)``: face a's
cells' parts of the cosine against b̂ and face b's against â (uncentred; a mirrored look's rows
mirrored back onto the pair's geometry). The deletion test's drops (each part hidden with the
face's mean colour, hard edges, in one face then the other, f32 vectors) are kept per part, so
any ranking's deletion result follows.

``--analyse`` (no network): the variants' figures from a saved ``.npz``. ``--cost REPEAT``: the
explanation's cost in bare SFace inferences, every variant interleaved in one process.
"""

from __future__ import annotations

import argparse
import itertools
import os

import numpy as np

from bench.common import data_home, machine, save
from bench.studies.why.bench_why import (
    SHIFTS_2PX,
    deletion_mask,
    faced_pairs,
    lookalike_pairs,
    same_pairs,
    shift,
    shifted_photo,
)
from lookalike.answer.why import DEFAULT_PARTS, Explainer, _moved, part_masks
from lookalike.face.pipeline import FacePipeline
from lookalike.measure.lfw import find_pairs, parse_pairs

CONDITIONS = ("base", "mirror", "crop", "photo")
#: the looks of each condition: (mirrored, dx, dy)
LOOKS = [(f, dx, dy) for f in (False, True)
         for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))]


def unflip(rows: np.ndarray) -> np.ndarray:
    return rows.reshape(*rows.shape[:-1], 7, 7)[..., ::-1].reshape(rows.shape)


def look_rows(tail, va: np.ndarray, vb: np.ndarray, mirrored: bool) -> tuple:
    """``(len(LOOKS), 2, 49)`` rows and ``(len(LOOKS),)`` cosines of a condition's pair."""
    views = [v for f, dx, dy in LOOKS for v in (_moved(va, f, dx, dy), _moved(vb, f, dx, dy))]
    h = tail.maps(np.stack(views)).astype(np.float64)  # (2L, 1024, 49)
    c = np.einsum("dkx,nkx->ndx", tail.w64, h)  # each cell's part of the raw vector
    raw = c.sum(axis=2) + tail.const
    norm = np.linalg.norm(raw, axis=1)
    unit = raw / norm[:, None]
    rows, cos = [], []
    for k, (f, _, _) in enumerate(LOOKS):
        i, j = 2 * k, 2 * k + 1
        r = np.stack([unit[j] @ c[i] / norm[i], unit[i] @ c[j] / norm[j]])
        rows.append(unflip(r) if f != mirrored else r)
        cos.append(float(unit[i] @ unit[j]))
    return np.stack(rows), np.array(cos)


def collect(pipe: FacePipeline, ex: Explainer, tail, items, rng) -> dict:
    masks = np.asarray(part_masks(112, 0.0, ex.parts))
    rows = np.full((len(items), len(CONDITIONS), len(LOOKS), 2, 49), np.nan)
    cos = np.full((len(items), len(CONDITIONS), len(LOOKS)), np.nan)
    drops = np.zeros((len(items), len(masks)))
    sims = np.zeros(len(items))
    for n, (a, b) in enumerate(items):
        va, vb = ex.view(a[0], a[1]), ex.view(b[0], b[1])
        ea, eb = a[2], b[2]
        s = float(ea @ eb)
        sims[n] = s
        e = ex.embed_views(np.concatenate([deletion_mask(va, masks, "mean"),
                                           deletion_mask(vb, masks, "mean")]))
        k = len(masks)
        drops[n] = 2 * s - e[:k] @ eb - e[k:] @ ea
        dx, dy = SHIFTS_2PX[int(rng.integers(len(SHIFTS_2PX)))]
        conds = {"base": (va, vb, False),
                 "mirror": (np.ascontiguousarray(va[:, ::-1]),
                            np.ascontiguousarray(vb[:, ::-1]), True),
                 "crop": (shift(va, dx, dy), shift(vb, dx, dy), False)}
        dx, dy = SHIFTS_2PX[int(rng.integers(len(SHIFTS_2PX)))]
        pa, pb = shifted_photo(pipe, a[0], dx, dy), shifted_photo(pipe, b[0], dx, dy)
        if pa is not None and pb is not None:
            conds["photo"] = (ex.view(pa[0], pa[1]), ex.view(pb[0], pb[1]), False)
        for c, (x, y, m) in conds.items():
            ci = CONDITIONS.index(c)
            rows[n, ci], cos[n, ci] = look_rows(tail, x, y, m)
        if n % 10 == 9:
            print(f"  {n + 1}/{len(items)} load {os.getloadavg()[0]:.1f}", flush=True)
    return {"rows": rows, "cos": cos, "drops": drops, "sims": sims}


# the analysis ---------------------------------------------------------------------------------
def covers(parts: tuple[str, ...] = DEFAULT_PARTS) -> dict[str, np.ndarray]:
    """Cell → part weights ``(parts, 49)`` to compare: the product's (the soft regions'
    area in each cell), and blurred by ``s`` px before the area resize, and the bilinear tent
    (each cell's value spread over the crop as a bilinear upsampling would)."""
    import cv2

    masks = np.asarray(part_masks(112, 0.0, parts))
    out = {}
    for s in (0, 8, 12, 16, 20, 24, 32):
        m = [cv2.GaussianBlur(x, (0, 0), s) if s else x for x in masks]
        out[f"area_blur{s}"] = np.stack([cv2.resize(x, (7, 7), interpolation=cv2.INTER_AREA)
                                         .reshape(-1) for x in m])
    # bilinear: value at pixel = bilinear interpolation of the 7×7 cells (centres 8 + 16 i);
    # a part's score = Σ_px mask · upsampled = Σ_cells (adjoint weight) · cell
    up = np.zeros((49, 112, 112), np.float32)
    for i in range(49):
        e = np.zeros((7, 7), np.float32)
        e.flat[i] = 1.0
        up[i] = cv2.resize(e, (112, 112), interpolation=cv2.INTER_LINEAR)
    w = np.einsum("pxy,cxy->pc", masks, up) / 256.0
    out["bilinear"] = w
    # symmetric about the template's axis (as the product's part_cells): a mirrored look's
    # cells then weigh alike without being mirrored back
    return {k: (v + v.reshape(-1, 7, 7)[:, :, ::-1].reshape(len(v), -1)) / 2
            for k, v in out.items()}


def ranks(score: np.ndarray) -> np.ndarray:
    return np.argsort(-score, axis=-1, kind="stable")


def kendall(r1: np.ndarray, r2: np.ndarray) -> float:
    pos = {int(p): i for i, p in enumerate(r2)}
    n = len(r1)
    agree = sum(1 if pos[int(r1[i])] < pos[int(r1[j])] else -1
                for i in range(n) for j in range(i + 1, n))
    return agree / (n * (n - 1) / 2)


def analyse(data: dict, label: str) -> dict:
    rows, drops = data["rows"], data["drops"]
    have_photo = ~np.isnan(rows[:, 3, 0, 0, 0])
    look_sets = {"one": [0], "mirror": [0, 5], "jitter": [0, 1, 2, 3, 4],
                 "mirror_jitter": list(range(10)), "mirror_jitter_lr": [0, 1, 2, 5, 6, 7],
                 "jitter_lr": [0, 1, 2]}
    out = {}
    for (cname, cover), (lname, looks), centre, norm in itertools.product(
            covers().items(), look_sets.items(), ("mean", "none"), ("sum", "area")):
        r = rows[:, :, looks].mean(axis=2)  # (pairs, conds, 2, 49)
        if centre == "mean":
            r = r - r.mean(axis=-1, keepdims=True)
        w = cover / cover.sum(axis=1, keepdims=True) if norm == "area" else cover
        score = np.einsum("pc,nkfc->nkp", w, r) / 2  # (pairs, conds, parts)
        o = ranks(score)
        first, last = o[:, 0, 0], o[:, 0, -1]
        idx = np.arange(len(o))
        res = {"deletion": float(np.mean(drops[idx, first] > drops[idx, last])) * 100}
        for ci, c in enumerate(CONDITIONS[1:], 1):
            same = np.all(o[:, ci] == o[:, 0], axis=1)
            top = o[:, ci, 0] == o[:, 0, 0]
            keep = have_photo if c == "photo" else np.ones(len(o), bool)
            res[c] = float(np.mean(same[keep])) * 100
            res[c + "_first"] = float(np.mean(top[keep])) * 100
        # not a constant answer: how often the most common ranking is given, and how far the
        # ranking follows the pixels' own drops (each part hidden, the deletion test's fill)
        base = [tuple(x) for x in o[:, 0]]
        res["commonest_ranking"] = max(base.count(x) for x in set(base)) / len(base) * 100
        res["distinct_rankings"] = len(set(base))
        od = ranks(drops)
        res["same_as_pixels"] = float(np.mean(np.all(od == o[:, 0], axis=1))) * 100
        res["first_as_pixels"] = float(np.mean(od[:, 0] == o[:, 0, 0])) * 100
        res["kendall_vs_pixels"] = float(np.mean([kendall(a, b) for a, b in zip(od, o[:, 0],
                                                                                  strict=True)]))
        # pair-specific: across pairs, does a part's score follow its pixel drop (Pearson r per
        # part, averaged)? A constant ranking says nothing here; the deletion test and the
        # stability tests cannot tell it from a real explanation
        res["r_vs_pixels"] = float(np.mean([np.corrcoef(score[:, 0, p], drops[:, p])[0, 1]
                                            for p in range(drops.shape[1])]))
        res = {k: round(v, 3 if k.startswith(("kendall", "r_")) else 1)
               for k, v in res.items()}
        res["crops"] = 2 * len(looks)
        out[f"{cname}|{lname}|{centre}|{norm}"] = res
    # the reference no explanation should be mistaken for: one fixed order for every pair
    const = np.arange(drops.shape[1])
    od = ranks(drops)
    out["constant_order"] = {
        "deletion": round(float(np.mean(drops[:, const[0]] > drops[:, const[-1]])) * 100, 1),
        "mirror": 100.0, "crop": 100.0, "photo": 100.0, "commonest_ranking": 100.0,
        "same_as_pixels": round(float(np.mean(np.all(od == const, axis=1))) * 100, 1),
        "first_as_pixels": round(float(np.mean(od[:, 0] == const[0])) * 100, 1),
        "kendall_vs_pixels": round(float(np.mean([kendall(a, const) for a in od])), 3),
        "pixels_commonest_ranking": round(max(np.unique(od, axis=0, return_counts=True)[1])
                                          / len(od) * 100, 1),
        "crops": 0, "order": list(DEFAULT_PARTS)}
    return out


def cost(repeat: int) -> dict:
    """Wall and CPU ms (p50) per explained pair, interleaved with a bare SFace f32 inference
    (batch of 1) in the same process, on 10 LFW same-person pairs (their vectors known):
    the default explanation (4 crops), without the mirror (2 crops), the third pass's
    weighting (2 crops), one face against its top 3 matches (per match), and the network
    alone on the default's 4 crops (the floor)."""
    import time

    from lookalike.answer.why_tail import sface_tail

    pipe = FacePipeline("sface")
    lfw_dir, pairs_txt = find_pairs(data_home())
    pairs = parse_pairs(pairs_txt.read_text(), lfw_dir)
    ex = Explainer(pipe.embedder)
    two = Explainer(pipe.embedder, mirror=False)
    third = Explainer(pipe.embedder, mirror=False, cell_blur=0)
    items = [(ex.view(a[0], a[1]), ex.view(b[0], b[1]), a[2], b[2])
             for a, b in faced_pairs(pipe, same_pairs(pairs, 10))]
    net = pipe.embedder._network()
    tail = sface_tail()

    def nchw(v: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(v.transpose(0, 3, 1, 2), dtype=np.float32)

    def top3(r: int) -> None:
        ex.explain_many(items[r][0], [items[(r + k) % len(items)][1] for k in range(3)])

    fns = {
        "bare_sface": lambda r: net.run(nchw(items[r][0][None])),
        "network_alone_4_crops": lambda r: tail.cells(np.stack(
            [items[r][0], items[r][1], items[r][0][:, ::-1], items[r][1][:, ::-1]])),
        "default_mirror_blur24": lambda r: ex.explain_views(items[r][0], items[r][1], items[r][2:]),
        "no_mirror_blur24": lambda r: two.explain_views(items[r][0], items[r][1], items[r][2:]),
        "third_pass_no_mirror_blur0": lambda r: third.explain_views(items[r][0], items[r][1],
                                                                 items[r][2:]),
        "top3_per_match": top3,
    }
    for f in fns.values():
        for r in range(2):
            f(r)
    times: dict[str, tuple[list, list]] = {k: ([], []) for k in fns}
    for i in range(repeat):
        for k, f in fns.items():
            t, c = time.perf_counter(), time.process_time()
            f(i % len(items))
            div = 3 if k == "top3_per_match" else 1
            times[k][0].append((time.perf_counter() - t) / div)
            times[k][1].append((time.process_time() - c) / div)
    med = {k: (float(np.median(w)) * 1000, float(np.median(c)) * 1000)
           for k, (w, c) in times.items()}
    bw, bc = med["bare_sface"]
    out = {k: {"wall_ms_p50": round(w, 1), "cpu_ms_p50": round(c, 1),
               "wall_in_bare": round(w / bw, 2), "cpu_in_bare": round(c / bc, 2)}
           for k, (w, c) in med.items()}
    out["repeat"] = repeat
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=100, help="pairs of each kind")
    ap.add_argument("--name", default="why_looks")
    ap.add_argument("--analyse", action="store_true", help="only the comparison, from the .npz")
    ap.add_argument("--holdout", action="store_true",
                    help="the next --pairs pairs of each kind (pairs not in the first --pairs)")
    ap.add_argument("--seed", type=int, default=0, help="the 2 px moves' random draws")
    ap.add_argument("--cost", type=int, default=0, metavar="REPEAT",
                    help="only time the explanations (see cost()), REPEAT times")
    args = ap.parse_args(argv)
    from bench.common import RESULTS

    if args.cost:
        res = {"machine": machine(), "cost": cost(args.cost),
               "load_average_at_end": [round(v, 2) for v in os.getloadavg()]}
        for k, v in res["cost"].items():
            print(k, v)
        save(args.name, res)
        return 0

    path = RESULTS / f"{args.name}.npz"
    start = machine()
    if not args.analyse:
        from bench.studies.why.bench_why_fast import Tail

        pipe = FacePipeline("sface")
        ex = Explainer(pipe.embedder)
        tail = Tail()
        lfw_dir, pairs_txt = find_pairs(data_home())
        pairs = parse_pairs(pairs_txt.read_text(), lfw_dir)
        rng = np.random.default_rng(args.seed)  # seed 0: bench_why's draws, in its order
        sets = {"same_person": same_pairs(pairs, args.pairs),
                "lookalike": [(a, b) for a, b, _ in lookalike_pairs(pipe, pairs, args.pairs,
                                                                    True)]}
        if args.holdout:  # the next pairs of each kind, none of the first --pairs
            first = {k: set(v) for k, v in sets.items()}
            sets = {"same_person": [p for p in same_pairs(pairs, 2 * args.pairs)
                                    if p not in first["same_person"]],
                    "lookalike": [(a, b) for a, b, _ in lookalike_pairs(
                        pipe, pairs, 2 * args.pairs, True)][args.pairs:]}
        saved = {}
        for name, pl in sets.items():
            d = collect(pipe, ex, tail, faced_pairs(pipe, pl), rng)
            saved.update({f"{name}/{k}": v for k, v in d.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **saved)
    z = np.load(path)
    res = {"machine": start}
    for name in ("same_person", "lookalike"):
        d = {k.split("/")[1]: z[k] for k in z.files if k.startswith(name + "/")}
        res[name] = analyse(d, name)
    both = {k: (res["same_person"][k], res["lookalike"][k]) for k in res["same_person"]}
    worst = sorted(both.items(), key=lambda kv: -min(
        min(v[c] for c in ("deletion", "mirror", "crop", "photo")) for v in kv[1]))
    for k, (s, lk) in worst[:40]:
        print(f"{k:40s} crops {s['crops']:2d}  " + "  ".join(
            f"{c} {s[c]:5.1f}/{lk[c]:5.1f}" for c in ("deletion", "mirror", "crop", "photo")))
    res["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    save(args.name, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
