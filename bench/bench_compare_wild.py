"""``lookalike.compare`` on photos like the users': the verdict and the probability fitted and
checked on LFW's pairs *and* the wild development set's pairs, with the faces' size.

    .venv/bin/python bench/bench_compare_wild.py [--write]

1. Pairs: LFW's 6,000 ``pairs.txt`` pairs (150 px photos, faces ≈ 58 px wide) and every pair of
   the wild set's photos (uncropped web photos of 12 people, faces 30–400 px): each photo's
   face chosen as training chooses it (the face that agrees with the person's other photos),
   photos whose face is not within the same-person similarity of the person's robust centre
   left out (label noise), so a pair's label is its folders'.
2. Where the verdict stands: FAR (different people accepted) and TAR (same person accepted) at
   fixed thresholds and at the size-dependent one, per source and per face size.
3. The probability: a logistic of the similarity ``s`` and the size term
   ``z = log2(clip(w, 40, 300) / 100)`` (``w`` the smaller face's width in its photo's pixels),
   ``a·s + b + (c + d·s)·z``, at even odds, each source weighing half; held out in 5 folds
   (LFW by its folds, the wild set by photo), ECE per source. ``--write`` fits it on all pairs
   and writes the constants into ``src/lookalike/answer/verification.py``.

Writes ``bench/results/compare_wild.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compare import binary_ece, write_entry  # noqa: E402
from common import data_home, machine, save  # noqa: E402

#: The verdict: 0.34 (LFW's best) for faces up to SMALL_PX, 0.40 (1 stranger in ~300 of the
#: same looks on the wild set) from LARGE_PX, interpolated in log2 of the width in between.
THRESHOLD, THRESHOLD_LARGE, SMALL_PX, LARGE_PX = 0.34, 0.40, 80.0, 160.0
FIXED = (0.34, 0.363, 0.38, 0.40, 0.42)
SIZES = ((0, 60), (60, 100), (100, 160), (160, 250), (250, 10_000))


def lfw_pairs(progress: bool) -> dict:
    """Similarity, smaller face width, same?, fold of each LFW pair (compare's face choice;
    a photo without a detected face is left out)."""
    from lookalike.face.pipeline import FacePipeline
    from lookalike.measure.lfw import find_pairs, parse_pairs
    from lookalike.photos.images import content_hash, read_bytes
    from lookalike.progress import bar

    lfw_dir, pairs_file = find_pairs(data_home())
    pairs = parse_pairs(pairs_file.read_text(), lfw_dir)
    plain, crops = FacePipeline("sface"), FacePipeline("sface", crops=True)
    vec, width = {}, {}
    for p in bar(list(dict.fromkeys(pairs.left + pairs.right)), desc="LFW", enabled=progress):
        # the same vectors either way when a face is found: use whichever analysis is cached
        hit = crops.cache is not None and crops.cache.get(
            f"{content_hash(read_bytes(p))}|{crops.key}") is not None
        r = (crops if hit else plain).analyze(p, first_only=True)
        if r.faces and not r.faces[0].synthetic:
            vec[p], width[p] = r.embeddings[0], r.faces[0].box[2]
    keep = [i for i, (a, b) in enumerate(zip(pairs.left, pairs.right, strict=True))
            if a in vec and b in vec]
    return {"s": np.array([float(vec[pairs.left[i]] @ vec[pairs.right[i]]) for i in keep]),
            "w": np.array([min(width[pairs.left[i]], width[pairs.right[i]]) for i in keep]),
            "same": np.asarray(pairs.same, bool)[keep],
            "fold": np.asarray(pairs.fold, int)[keep] % 5,
            "left_out_no_face": len(pairs) - len(keep)}


def wild_faces(progress: bool) -> dict:
    """Each wild photo's face (training's choice) with its person and width; label noise out."""
    from lookalike.answer.heads import robust_members
    from lookalike.errors import ImageError
    from lookalike.face.choose import choose_faces
    from lookalike.face.embedders import SFaceEmbedder, l2_normalize
    from lookalike.face.pipeline import FacePipeline
    from lookalike.photos.folders import discover
    from lookalike.progress import bar

    pipe = FacePipeline("sface")
    threshold = SFaceEmbedder.threshold
    E, person, width = [], [], []
    for name in ("bollywood6", "actors6"):
        ds = discover(data_home() / "wild" / name)
        by: dict[str, list] = {}
        for ph in bar(ds.photos, desc=name, enabled=progress):
            try:
                r = pipe.analyze(ph.path)
            except ImageError:
                continue
            if r.faces:
                by.setdefault(ph.person, []).append(r)
        for p, rs in by.items():
            for r, c in zip(rs, choose_faces([r.embeddings for r in rs], threshold,
                                             [r.faces for r in rs]), strict=True):
                E.append(r.embeddings[c.index])
                person.append(f"{name}/{p}")
                width.append(r.faces[c.index].box[2])
    E = l2_normalize(np.stack(E))
    names = sorted(set(person))
    y = np.array([names.index(p) for p in person])
    members = robust_members(E, y, len(names), threshold)
    return {"E": E[members], "y": y[members], "w": np.array(width)[members],
            "photos": len(E), "left_out": int((~members).sum()), "people": len(names)}


def wild_pairs(faces: dict) -> dict:
    E, y, w = faces["E"], faces["y"], faces["w"]
    iu = np.triu_indices(len(E), 1)
    rng = np.random.default_rng(0)
    photo_fold = rng.permutation(len(E)) % 5
    fa, fb = photo_fold[iu[0]], photo_fold[iu[1]]
    return {"s": (E @ E.T)[iu], "w": np.minimum(w[iu[0]], w[iu[1]]),
            "same": (y[iu[0]] == y[iu[1]]), "fold": np.where(fa == fb, fa, -1),
            "fold_a": fa, "fold_b": fb}


def size_term(w: np.ndarray) -> np.ndarray:
    from lookalike.answer.comparison import SIZE_RANGE, SIZE_REF

    return np.log2(np.clip(w, *SIZE_RANGE) / SIZE_REF)


def threshold_at(w: np.ndarray) -> np.ndarray:
    f = np.clip((np.log2(np.maximum(w, 1.0)) - np.log2(SMALL_PX))
                / (np.log2(LARGE_PX) - np.log2(SMALL_PX)), 0.0, 1.0)
    return THRESHOLD + f * (THRESHOLD_LARGE - THRESHOLD)


def fit(sources: list[dict]) -> tuple[float, float, float, float]:
    """a, b, c, d of ``a·s + b + (c + d·s)·z`` by weighted logistic regression: each source
    half the weight, its same and different pairs half of that (even odds)."""
    from sklearn.linear_model import LogisticRegression

    s = np.concatenate([x["s"] for x in sources])
    z = np.concatenate([size_term(x["w"]) for x in sources])
    y = np.concatenate([x["same"] for x in sources])
    wt = np.concatenate([np.where(x["same"], 0.25 / max(x["same"].sum(), 1),
                                  0.25 / max((~x["same"]).sum(), 1)) for x in sources])
    X = np.stack([s, z, s * z], axis=1)
    clf = LogisticRegression(C=1e4, max_iter=5000).fit(X, y, sample_weight=wt * len(s))
    (a, c, d), b = clf.coef_[0], clf.intercept_[0]
    return float(a), float(b), float(c), float(d)


def probability(s, w, a, b, c, d) -> np.ndarray:
    z = size_term(np.asarray(w, float))
    return 1 / (1 + np.exp(-(a * s + b + (c + d * s) * z)))


def rates(x: dict, t) -> dict:
    same, s = x["same"], x["s"]
    t = np.broadcast_to(np.asarray(t, float), s.shape)
    tar, far = float(np.mean(s[same] >= t[same])), float(np.mean(s[~same] >= t[~same]))
    return {"far": round(far, 5), "tar": round(tar, 5), "balanced_accuracy":
            round((tar + 1 - far) / 2, 5), "same": int(same.sum()), "different": int((~same).sum())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write the constants")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    info = machine()
    t0 = time.perf_counter()
    lfw = lfw_pairs(not args.quiet)
    faces = wild_faces(not args.quiet)
    wild = wild_pairs(faces)
    out: dict = {"machine": info, "lfw_pairs": len(lfw["s"]),
                 "lfw_left_out_no_face": lfw["left_out_no_face"],
                 "wild": {k: faces[k] for k in ("photos", "left_out", "people")},
                 "wild_pairs": len(wild["s"]), "rule": {
                     "threshold": THRESHOLD, "threshold_large": THRESHOLD_LARGE,
                     "size_px": [SMALL_PX, LARGE_PX]}}
    table = {}
    for name, x in (("lfw", lfw), ("wild", wild)):
        rows = {f"{t:.3f}": rates(x, t) for t in FIXED}
        rows["by size (the verdict)"] = rates(x, threshold_at(x["w"]))
        table[name] = rows
        for lo, hi in SIZES:
            m = (x["w"] >= lo) & (x["w"] < hi)
            if m.sum() and x["same"][m].any() and (~x["same"][m]).any():
                sub = {k: v[m] for k, v in x.items() if isinstance(v, np.ndarray)}
                table[f"{name} faces {lo}-{hi} px"] = {
                    **{f"{t:.3f}": rates(sub, t) for t in FIXED},
                    "by size (the verdict)": rates(sub, threshold_at(sub["w"]))}
    out["verdict"] = table
    # the probability, held out in 5 folds
    held = {"lfw": np.zeros(len(lfw["s"])), "wild": np.full(len(wild["s"]), np.nan)}
    folds = []
    for k in range(5):
        tr_l = {kk: v[lfw["fold"] != k] for kk, v in lfw.items() if isinstance(v, np.ndarray)}
        mw = (wild["fold_a"] != k) & (wild["fold_b"] != k)
        tr_w = {kk: v[mw] for kk, v in wild.items() if isinstance(v, np.ndarray)}
        a, b, c, d = fit([tr_l, tr_w])
        tl, tw = lfw["fold"] == k, wild["fold"] == k
        held["lfw"][tl] = probability(lfw["s"][tl], lfw["w"][tl], a, b, c, d)
        held["wild"][tw] = probability(wild["s"][tw], wild["w"][tw], a, b, c, d)
        folds.append({"fold": k, "a": round(a, 3), "b": round(b, 3), "c": round(c, 3),
                      "d": round(d, 3),
                      "ece_lfw": round(binary_ece(held["lfw"][tl], lfw["same"][tl]), 4),
                      "ece_wild": round(binary_ece(held["wild"][tw], wild["same"][tw]), 4)})
    mw = ~np.isnan(held["wild"])
    out["probability_held_out"] = {
        "folds": folds,
        "pooled_ece_lfw": round(binary_ece(held["lfw"], lfw["same"]), 4),
        "pooled_ece_wild": round(binary_ece(held["wild"][mw], wild["same"][mw]), 4),
        "note": "ECE over the pairs as they come (LFW: half same; wild: 9 % same)"}
    a, b, c, d = fit([lfw, wild])
    out["fit_all"] = {"a": round(a, 4), "b": round(b, 4), "c": round(c, 4), "d": round(d, 4)}
    out["probability_at"] = {f"s={s_:.3f}, w={w_}px": round(float(probability(
        np.array([s_]), np.array([w_]), a, b, c, d)[0]), 3)
        for s_ in (0.34, 0.384, 0.40, 0.45) for w_ in (58, 100, 300)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    for name, rows in table.items():
        print(name)
        for t, r in rows.items():
            print(f"  {t:>22}: FAR {100 * r['far']:.2f} %  TAR {100 * r['tar']:.2f} %  "
                  f"balanced {100 * r['balanced_accuracy']:.2f} %  ({r['same']} / "
                  f"{r['different']})")
    print("probability, held out:", {k: v for k, v in out["probability_held_out"].items()
                                     if k.startswith("pooled")})
    print("fit on all:", out["fit_all"])
    print("probability at:", out["probability_at"])
    save("compare_wild", out)
    if args.write:
        commit = info.get("commit", "")
        write_entry("sface", {
            "a": round(a, 4), "b": round(b, 4), "c": round(c, 4), "d": round(d, 4),
            "threshold": THRESHOLD, "threshold_large": THRESHOLD_LARGE,
            "size_px": [SMALL_PX, LARGE_PX],
            "provenance": (f"bench/bench_compare_wild.py --write on LFW pairs.txt ({len(lfw['s'])}"
                           f" pairs) and the wild set's pairs ({len(wild['s'])}), "
                           f"{info['date_utc']} UTC, commit {commit}; size term "
                           "z = log2(clip(w, 40, 300) / 100) of the smaller face's width")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
