"""``lookalike.compare`` on LFW: the verdict's accuracy, the calibrated probability, the threshold.

    .venv/bin/python bench/bench_compare.py [--embedder sface] [--threshold T] [--write]
        [--variants-per-fold 30]

1. Every LFW ``pairs.txt`` pair goes through the public ``lookalike.compare`` (cached
   embeddings: the first run embeds ~7,700 photos). Accuracy of its verdict with the default
   threshold (no per-fold tuning), per fold, mean ± std; LFW's per-fold-tuned protocol beside it.
2. Platt scaling (a 1-D logistic of the similarity): fitted on 9 folds, tested on the 10th, for
   each fold; ECE (10 bins, top-label) and log-loss per held-out fold. ``--write`` fits it on
   all 6,000 pairs and writes the coefficients (and ``--threshold``, the verdict's threshold)
   into ``src/lookalike/answer/verification.py`` with their provenance.
3. The threshold on photos that are not LFW's 150 px crops: the first N same-person and N
   different-person pairs of each fold, both photos changed the same way — upscaled 2× and
   sharpened (larger, sharper photos), pasted small into a 640 px scene from scikit-image,
   JPEG quality 30, and down to 60 px and back (blur) — through ``lookalike.compare`` on arrays
   (uncached): FAR and TAR at candidate thresholds.

Writes ``bench/results/compare_<embedder>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, data_home, machine, save  # noqa: E402

import lookalike  # noqa: E402
from lookalike.answer import comparison as compare_mod  # noqa: E402
from lookalike.answer.heads import expected_calibration_error  # noqa: E402
from lookalike.measure.lfw import find_pairs, parse_pairs, subset_pairs
from lookalike.measure.metrics import kfold_verification, rates_at
from lookalike.progress import bar  # noqa: E402

CANDIDATES = (0.28, 0.30, 0.32, 0.33, 0.34, 0.35, 0.363, 0.38, 0.40, 0.43)


def fit_platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's 1-D logistic with his smoothed targets ((N+ + 1)/(N+ + 2), 1/(N- + 2)), which
    keep it finite when the classes barely overlap, fitted by Newton's method."""
    s, y = np.asarray(s, np.float64), np.asarray(y, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    t = np.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    X = np.stack([s, np.ones_like(s)], axis=1)
    w = np.zeros(2)
    for _ in range(100):
        p = 1 / (1 + np.exp(-(X @ w)))
        g = X.T @ (p - t)
        H = (X * (p * (1 - p))[:, None]).T @ X + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def platt(s: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(a * np.asarray(s, np.float64) + b)))


def binary_ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    P = np.stack([1 - p, p], axis=1)
    return expected_calibration_error(P, np.asarray(y, int), bins=bins)


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict]:
    """Pairs by predicted probability of 'same person': bin, count, mean predicted, observed."""
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (p >= lo) & ((p < hi) | (hi == 1.0))
        if m.any():
            rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(m.sum()),
                         "mean_p": round(float(p[m].mean()), 4),
                         "observed": round(float(np.mean(y[m])), 4)})
    return rows


def calibration_folds(s: np.ndarray, y: np.ndarray, fold: np.ndarray) -> dict:
    rows, held_p = [], np.zeros(len(s))
    for k in np.unique(fold):
        test = fold == k
        a, b = fit_platt(s[~test], y[~test])
        p = platt(s[test], a, b)
        held_p[test] = p
        eps = 1e-12
        nll = -np.mean(np.where(y[test], np.log(p + eps), np.log(1 - p + eps)))
        rows.append({"fold": int(k), "a": round(a, 3), "b": round(b, 3),
                     "ece": round(binary_ece(p, y[test]), 4), "nll": round(float(nll), 4),
                     "accuracy_at_p50": round(float(np.mean((p >= 0.5) == y[test])), 4)})
    return {"folds": rows, "mean_ece": round(float(np.mean([r["ece"] for r in rows])), 4),
            "max_ece": round(float(np.max([r["ece"] for r in rows])), 4),
            "pooled_ece": round(binary_ece(held_p, y), 4),
            "reliability_held_out": reliability(held_p, y)}


def write_constants(embedder: str, a: float, b: float, threshold: float, provenance: str
                    ) -> Path:
    return write_entry(embedder, {"a": round(a, 4), "b": round(b, 4), "threshold": threshold,
                                  "provenance": provenance})


def write_entry(embedder: str, entry: dict) -> Path:
    """Replace ``embedder``'s constants in ``src/lookalike/answer/verification.py``."""
    path = REPO / "src" / "lookalike" / "answer" / "verification.py"
    mod = importlib.import_module("lookalike.answer.verification")
    table = dict(mod.PLATT)
    table[embedder] = entry

    def value(v) -> str:
        if isinstance(v, str) and len(v) > 70:  # long text: implicit concatenation, < 100 cols
            import textwrap

            parts = textwrap.wrap(v, 70, drop_whitespace=False)
            return "(\n" + "".join(f"            {p!r}\n" for p in parts) + "        )"
        return repr(v)

    body = "".join(f"    {k!r}: {{\n" + "".join(f"        {kk!r}: {value(vv)},\n"
                                                  for kk, vv in v.items()) + "    },\n"
                   for k, v in sorted(table.items()))
    old = path.read_text()
    doc = old[:old.index("\nPLATT: dict")]  # the module's docstring stays as written
    text = doc + f"\nPLATT: dict[str, dict] = {{\n{body}}}\n"
    path.write_text(text)
    importlib.reload(mod)
    compare_mod._COMPARERS.clear()
    return path


# -- photo variants ------------------------------------------------------------------------

def _scenes() -> list[np.ndarray]:
    import skimage.data as d

    out = []
    for name in ("coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry"):
        img = getattr(d, name)()
        out.append(img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2))
    return out


def variant(rgb: np.ndarray, kind: str, rng: np.random.Generator, scenes) -> np.ndarray:
    import cv2

    if kind == "upscaled_sharpened":
        big = cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_LANCZOS4)
        blur = cv2.GaussianBlur(big, (0, 0), 2.0)
        return cv2.addWeighted(big, 1.8, blur, -0.8, 0)
    if kind == "pasted_in_scene":
        scene = scenes[int(rng.integers(len(scenes)))]
        scene = cv2.resize(scene, (640, 480), interpolation=cv2.INTER_AREA).copy()
        side = int(rng.integers(120, 200))
        face = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        scene[y:y + side, x:x + side] = face
        return scene
    if kind == "jpeg_q30":
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 30])
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if kind == "blurred_60px":
        small = cv2.resize(rgb, (60, 60), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    raise ValueError(kind)


VARIANTS = ("upscaled_sharpened", "pasted_in_scene", "jpeg_q30", "blurred_60px")


def variant_rates(pairs, embedder: str, per_fold: int, progress: bool) -> dict:
    from lookalike.errors import NoFaceError
    from lookalike.photos.images import load_image

    sub = subset_pairs(pairs, per_fold)
    scenes = _scenes()
    out = {}
    c = compare_mod.Comparer(embedder, cache=False)
    for kind in VARIANTS:
        rng = np.random.default_rng(0)
        sims, same, missed = [], [], 0
        for left, right, s in bar(list(zip(sub.left, sub.right, sub.same, strict=True)),
                                  desc=kind, enabled=progress):
            a = variant(load_image(left), kind, rng, scenes)
            b = variant(load_image(right), kind, rng, scenes)
            try:
                sims.append(c.compare(a, b).similarity)
                same.append(bool(s))
            except NoFaceError:
                missed += 1
        sims_a, same_a = np.array(sims), np.array(same, bool)
        out[kind] = {"pairs": len(sims), "no_face_pairs": missed,
                     "different_mean_similarity": round(float(sims_a[~same_a].mean()), 4),
                     "different_p99_similarity": round(float(np.percentile(sims_a[~same_a],
                                                                           99)), 4),
                     "same_mean_similarity": round(float(sims_a[same_a].mean()), 4),
                     "at": {f"{t:.3f}": dict(zip(("tar", "far"), (round(v, 4) for v in
                                                 rates_at(sims_a, same_a, t)), strict=True))
                            for t in CANDIDATES}}
    return out


def refresh_multi_face(paths, embedder: str, progress: bool) -> int:
    from lookalike.face.pipeline import FacePipeline, _to_arrays
    from lookalike.photos.images import content_hash, read_bytes

    cached = compare_mod.comparer(embedder).pipeline
    fresh = FacePipeline(embedder, cache=False)
    n = 0
    for p in bar(paths, desc="multi-face photos", enabled=progress):
        res = cached.analyze(p)
        if len(res.faces) < 2 or any("quality" in f.extra for f in res.faces):
            continue
        data = read_bytes(p)
        new = fresh.analyze(data, name=str(p))
        cached.cache.put(f"{content_hash(data)}|{cached.key}", _to_arrays(new))
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", default="sface")
    ap.add_argument("--threshold", type=float, default=None,
                    help="with --write: the verdict's threshold to ship (default: keep the "
                    "shipped one, else the embedder's own)")
    ap.add_argument("--write", action="store_true",
                    help="write the fitted constants into src/lookalike/answer/verification.py")
    ap.add_argument("--variants-per-fold", type=int, default=30,
                    help="same and different pairs per fold for the photo variants (0: skip)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    info = machine()
    t0 = time.perf_counter()
    lfw_dir, pairs_txt = find_pairs(data_home())
    pairs = parse_pairs(pairs_txt.read_text(), lfw_dir)

    # 0. photos with several faces whose cached analysis predates the face choice's quality
    #    signal (extra["quality"], measured only on a fresh analysis): analysed afresh, so the
    #    cache answers as an uncached run of today's code would
    refreshed = refresh_multi_face(sorted(set(pairs.left) | set(pairs.right)), args.embedder,
                                   not args.quiet)

    # 1. every pair through the public function
    sims = np.zeros(len(pairs))
    for i in bar(range(len(pairs)), desc="pairs", enabled=not args.quiet):
        sims[i] = lookalike.compare(pairs.left[i], pairs.right[i],
                                    embedder=args.embedder).similarity
    same = np.asarray(pairs.same, bool)
    fold = np.asarray(pairs.fold)
    res: dict = {"machine": info, "embedder": args.embedder, "pairs": len(pairs),
                 "multi_face_photos_refreshed": refreshed}
    tuned = kfold_verification(sims, same, fold)
    res["per_fold_tuned_accuracy"] = {"mean": round(tuned["mean_accuracy"], 4),
                                      "std": round(tuned["std"], 4),
                                      "mean_threshold": round(tuned["mean_threshold"], 4)}
    res["accuracy_by_threshold"] = {}
    for t in CANDIDATES:
        accs = [float(np.mean((sims[fold == k] >= t) == same[fold == k]))
                for k in np.unique(fold)]
        tar, far = rates_at(sims, same, t)
        res["accuracy_by_threshold"][f"{t:.3f}"] = {
            "mean": round(float(np.mean(accs)), 4), "std": round(float(np.std(accs)), 4),
            "tar": round(tar, 4), "far": round(far, 4)}

    # 2. calibration on held-out folds, then the shipped fit
    res["calibration"] = calibration_folds(sims, same, fold)
    a, b = fit_platt(sims, same)
    res["platt_all_pairs"] = {"a": round(a, 4), "b": round(b, 4),
                              "p50_similarity": round(-b / a, 4)}
    if args.write:
        shipped = compare_mod.verdict_threshold(args.embedder)
        from lookalike.face.embedders import get_embedder

        threshold = args.threshold or shipped or get_embedder(args.embedder).threshold
        provenance = (f"bench/bench_compare.py --write on LFW pairs.txt (6,000 pairs, "
                      f"lfw_funneled 150 px), {info['date_utc']} UTC, commit {info['commit']}")
        path = write_constants(args.embedder, a, b, threshold, provenance)
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)

    # the verdict as shipped, through lookalike.compare (same_person, default threshold)
    verdicts = np.array([lookalike.compare(pairs.left[i], pairs.right[i],
                                           embedder=args.embedder).same_person
                         for i in range(len(pairs))])
    accs = [float(np.mean(verdicts[fold == k] == same[fold == k])) for k in np.unique(fold)]
    thr = compare_mod.comparer(args.embedder).threshold
    res["default_verdict"] = {"threshold": thr, "mean": round(float(np.mean(accs)), 4),
                              "std": round(float(np.std(accs)), 4),
                              "folds": [round(x, 4) for x in accs]}

    # 3. the threshold on other photos
    if args.variants_per_fold:
        res["variants"] = variant_rates(pairs, args.embedder, args.variants_per_fold,
                                        not args.quiet)
        res["variants_pairs_per_fold"] = args.variants_per_fold
    res["seconds"] = round(time.perf_counter() - t0, 1)
    d = res["default_verdict"]
    print(f"{args.embedder}: lookalike.compare verdict at {d['threshold']}: "
          f"{100 * d['mean']:.2f} ± {100 * d['std']:.2f} % (per-fold tuned "
          f"{100 * tuned['mean_accuracy']:.2f} %); Platt held-out ECE mean "
          f"{res['calibration']['mean_ece']:.4f}, max {res['calibration']['max_ece']:.4f}")
    for t, r in res["accuracy_by_threshold"].items():
        line = f"  t={t}: LFW acc {100 * r['mean']:.2f} % FAR {100 * r['far']:.2f} %"
        for kind, v in (res.get("variants") or {}).items():
            at = v["at"][t]
            line += f" | {kind} FAR {100 * at['far']:.1f} % TAR {100 * at['tar']:.1f} %"
        print(line)
    save(f"compare_{args.embedder.replace('+', '_')}", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
