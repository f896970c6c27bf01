"""The LFW benchmark: 10-fold verification on ``pairs.txt`` and few-shot identification.

Verification follows LFW's "unrestricted, labeled outside data" protocol: ``pairs.txt`` holds
10 folds of 300 same-person and 300 different-person pairs; for each fold the threshold on the
cosine similarity that maximises accuracy on the other 9 folds is applied to it. Reported: mean
accuracy ± standard deviation over the folds, the ROC curve and its AUC, TAR at FAR = 0.1 % and
1 %, the false-accept rate of each embedder's ``threshold`` constant on the different-person
pairs, and the thresholds that give FAR 1 % and 0.1 %.

Identification (the foundation issue's protocol): people with ≥ 10 photos, the first 5 photos
(sorted by name) of each to train a head, the rest to test (top-1, both heads); and 1-shot over
everyone with ≥ 2 photos: the first photo enrolled, every other photo searched among all people.

Every photo goes through :class:`~lookalike.face.pipeline.FacePipeline` with ``crops=True``
(cached):
LFW photos are square crops (250×250, or 150×150 web copies) centred on one face, so when
YuNet finds no face the centred whole-image stand-in face
(:func:`~lookalike.face.detector.whole_image_face`) is embedded instead and the pair is still
scored;
such photos and pairs are counted in the results. The combination ``sface+dlib`` is built
from the two backends' cached vectors exactly as :class:`~lookalike.face.embedders.ComboEmbedder`
builds it (concatenation, L2-normalised).

Only numpy and the standard library are imported here; matplotlib and the face models load
inside the functions that need them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import DatasetError
from lookalike.measure.lfw import (
    Pairs,
    find_pairs,
    lfw_people,
    parse_pairs,
    split_shots,
    subset_pairs,
)
from lookalike.measure.metrics import (
    few_shot_top1,
    kfold_verification,
    nearest_top1,
    rates_at,
    roc_auc,
    tar_at_far,
)

FARS = (0.001, 0.01)
DEFAULT_EMBEDDERS = ("sface", "dlib", "sface+dlib")


# -- pairs.txt -----------------------------------------------------------------------------


# -- verification metrics (pure) -----------------------------------------------------------


# -- identification metrics (pure) ---------------------------------------------------------


# -- embedding LFW photos ------------------------------------------------------------------

@dataclass
class Embedded:
    """One vector per photo (the most prominent face, or the stand-in face)."""

    index: dict[Path, int]
    vectors: np.ndarray
    no_face: np.ndarray  # bool per photo: no face detected, the whole-image stand-in was used
    seconds: float

    def of(self, paths: Sequence[Path]) -> np.ndarray:
        return self.vectors[[self.index[p] for p in paths]]

    def missed(self, paths: Sequence[Path]) -> np.ndarray:
        return self.no_face[[self.index[p] for p in paths]]


def embed_photos(paths: Sequence[Path], backend: str, *, progress: bool = True) -> Embedded:
    """Embed each photo's most prominent face with ``backend`` (cached)."""
    from lookalike.face.pipeline import FacePipeline
    from lookalike.progress import bar

    t0 = time.perf_counter()
    pipeline = FacePipeline(backend, crops=True)
    vecs, missed = [], []
    for p in bar(paths, desc=f"{backend} embeddings", enabled=progress):
        res = pipeline.analyze(p)
        vecs.append(res.embeddings[0])
        missed.append(res.faces[0].synthetic)
    return Embedded({p: i for i, p in enumerate(paths)}, np.stack(vecs).astype(np.float32),
                    np.array(missed, bool), time.perf_counter() - t0)


def combine(parts: Sequence[Embedded]) -> Embedded:
    """The ``sface+dlib`` vectors from the parts' vectors, as ComboEmbedder makes them."""
    from lookalike.face.embedders import l2_normalize

    first = parts[0]
    vecs = l2_normalize(np.concatenate([p.vectors for p in parts], axis=1))
    return Embedded(first.index, vecs, np.any([p.no_face for p in parts], axis=0),
                    sum(p.seconds for p in parts))


# -- the benchmark -------------------------------------------------------------------------


def verification(emb: Embedded, pairs: Pairs, default_threshold: float | None) -> dict:
    a, b = emb.of(pairs.left), emb.of(pairs.right)
    scores = np.sum(a * b, axis=1)
    res = kfold_verification(scores, pairs.same, pairs.fold)
    fpr, tpr, area = roc_auc(scores, pairs.same)
    res["auc"] = area
    res["tar_at_far"] = {}
    res["threshold_at_far"] = {}
    for far in FARS:
        tar, t = tar_at_far(scores, pairs.same, far)
        res["tar_at_far"][str(far)] = tar
        res["threshold_at_far"][str(far)] = round(t, 4)
    if default_threshold is not None:
        tar, far = rates_at(scores, pairs.same, default_threshold)
        res["default_threshold"] = {"threshold": default_threshold, "tar": tar, "far": far,
                                    "accuracy": float(np.mean((scores >= default_threshold)
                                                              == pairs.same))}
    missed = emb.missed(pairs.left) | emb.missed(pairs.right)
    res["pairs"] = len(pairs)
    res["pairs_with_no_face_photo"] = int(missed.sum())
    res["pairs_with_no_face_photo_correct"] = int(np.sum(res["_correct"][missed]))
    res["_roc"] = (fpr, tpr)
    res["_scores"] = scores
    return res


def identification(emb: Embedded, people: dict[str, list[Path]],
                   radius: float | None = None) -> dict:
    names, train, test = split_shots(people, shots=5, min_photos=10)
    X, y = emb.of([p for p, _ in train]), np.array([k for _, k in train])
    Xt, yt = emb.of([p for p, _ in test]), np.array([k for _, k in test])
    five = {"people": len(names), "train_photos": len(train), "test_photos": len(test),
            "top1": few_shot_top1(X, y, Xt, yt, radius=radius)}
    five["top1"]["nearest_photo"] = nearest_top1(X, y, Xt, yt)
    names1, g, q = split_shots(people, shots=1, min_photos=2)
    G, gy = emb.of([p for p, _ in g]), np.array([k for _, k in g])
    Q, qy = emb.of([p for p, _ in q]), np.array([k for _, k in q])
    one = {"people": len(names1), "queries": len(q), "top1": nearest_top1(G, gy, Q, qy)}
    return {"five_shot": five, "one_shot": one}


def run_lfw(data_home: str | Path | None = None, *,
            embedders: Sequence[str] = DEFAULT_EMBEDDERS, out_dir: str | Path | None = None,
            identify: bool = True, pairs_per_fold: int | None = None, progress: bool = True,
            log: Callable[[str], None] | None = None) -> dict:
    """Run the LFW benchmark for each embedder; returns a JSON-able dict (and writes the ROC
    curve to ``out_dir/lfw_roc.png`` when ``out_dir`` is given). ``pairs_per_fold``: only the
    first N same-person and N different-person pairs of each fold."""
    from lookalike.face.embedders import get_embedder

    say = log or (lambda _m: None)
    lfw_dir, pairs_file = find_pairs(data_home)
    pairs = parse_pairs(pairs_file.read_text(), lfw_dir)
    if pairs_per_fold:
        pairs = subset_pairs(pairs, pairs_per_fold)
    people = lfw_people(lfw_dir)
    photos = list(dict.fromkeys(pairs.left + pairs.right))
    if identify:
        seen = set(photos)
        photos += [p for files in people.values() if len(files) >= 2 for p in files
                   if p not in seen]
    missing = [p for p in photos if not p.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} photos named in pairs.txt are missing, e.g. "
                           f"{missing[0]}", lfw_dir, "use a complete lfw_funneled folder")
    say(f"LFW at {lfw_dir}: {len(pairs)} pairs in {len(np.unique(pairs.fold))} folds, "
        f"{len(photos)} photos to embed per backend")

    done: dict[str, Embedded] = {}

    def vectors(name: str) -> Embedded:
        if name not in done:
            if "+" in name:
                done[name] = combine([vectors(part) for part in name.split("+")])
            else:
                done[name] = embed_photos(photos, name, progress=progress)
        return done[name]

    results: dict = {"data": str(lfw_dir), "pairs_file": str(pairs_file), "photos": len(photos),
                     "pairs": len(pairs), "pairs_per_fold_per_class": pairs_per_fold,
                     "backends": {}}
    for name in embedders:
        t0 = time.perf_counter()
        emb = vectors(name)
        entry: dict = {"no_face_photos": int(emb.no_face.sum()),
                       "embed_seconds": round(emb.seconds, 1)}
        entry["verification"] = verification(emb, pairs, float(get_embedder(name).threshold))
        if identify:
            entry["identification"] = identification(
                emb, people, radius=float(get_embedder(name).threshold))
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        results["backends"][name] = entry
        v = entry["verification"]
        say(f"{name}: {100 * v['mean_accuracy']:.2f} ± {100 * v['std']:.2f} %")
    if out_dir is not None:
        results["roc_png"] = str(plot_roc(results, out_dir))
    return results


def plot_roc(results: dict, out_dir: str | Path) -> Path:
    """ROC curves of every backend (FAR on a log axis), with AUC and accuracy in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    colours = {"sface": "#1f77b4", "dlib": "#d62728", "sface+dlib": "#2ca02c"}
    for name, entry in results["backends"].items():
        v = entry["verification"]
        fpr, tpr = v["_roc"]
        keep = fpr > 0
        ax.plot(fpr[keep], tpr[keep], color=colours.get(name), lw=1.8,
                label=f"{name}: AUC {v['auc']:.4f}, acc {100 * v['mean_accuracy']:.2f} %")
    low = 1.0
    for entry in results["backends"].values():
        fpr, tpr = entry["verification"]["_roc"]
        low = min(low, float(tpr[np.searchsorted(fpr, 1e-3)]))
    for far in FARS:
        ax.axvline(far, color="0.6", lw=0.8, ls="--")
    ax.set_xscale("log")
    n_neg = max(int(e["verification"]["pairs"]) // 2 for e in results["backends"].values())
    ax.set_xlim(0.5 / max(n_neg, 1), 1)
    ax.set_ylim(max(0.0, np.floor((low - 0.02) * 20) / 20), 1.002)
    ax.set_xlabel("false accept rate (different-person pairs)")
    ax.set_ylabel("true accept rate (same-person pairs)")
    ax.set_title(f"LFW verification, {results.get('pairs', 6000):,} pairs (pairs.txt)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = out / "lfw_roc.png"
    tmp = out / ".lfw_roc.png.tmp"
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path


def public(results: dict) -> dict:
    """The results without private arrays (keys starting with ``_``), for JSON."""
    if isinstance(results, dict):
        return {k: public(v) for k, v in results.items() if not str(k).startswith("_")}
    if isinstance(results, list):
        return [public(v) for v in results]
    return results


def summary_lines(results: dict) -> list[str]:
    lines = [f"LFW benchmark ({results['photos']} photos; {results['data']})", "",
             f"Verification, 10-fold on pairs.txt ({results.get('pairs', 6000)} pairs; "
             "threshold from 9 folds, tested on the 10th):",
             f"  {'backend':<11} {'accuracy':>15} {'AUC':>7} {'TAR@0.1%':>9} {'TAR@1%':>8}"
             f"  {'t@FAR1%':>7} {'t@0.1%':>7}  threshold constant (its FAR)"]
    for name, e in results["backends"].items():
        v = e["verification"]
        d = v.get("default_threshold", {})
        lines.append(
            f"  {name:<11} {100 * v['mean_accuracy']:7.2f} ± {100 * v['std']:4.2f} % "
            f"{v['auc']:7.4f} {100 * v['tar_at_far']['0.001']:8.2f}% "
            f"{100 * v['tar_at_far']['0.01']:7.2f}%  {v['threshold_at_far']['0.01']:7.3f} "
            f"{v['threshold_at_far']['0.001']:7.3f}  "
            f"{d.get('threshold', float('nan')):.3f} (FAR {100 * d.get('far', float('nan')):.2f} %"
            f", TAR {100 * d.get('tar', float('nan')):.2f} %)")
    lines.append("  Photos without a detected face use the centred whole-image face; pairs "
                 "with such a photo: " + ", ".join(
                     f"{n} {e['verification']['pairs_with_no_face_photo']}"
                     for n, e in results["backends"].items()))
    if any("identification" in e for e in results["backends"].values()):
        first = next(e for e in results["backends"].values() if "identification" in e)
        f5, o1 = first["identification"]["five_shot"], first["identification"]["one_shot"]
        lines += ["", f"Identification, top-1: 5-shot ({f5['people']} people with ≥ 10 photos, "
                  f"{f5['test_photos']} test photos) and 1-shot ({o1['people']} people, "
                  f"{o1['queries']} queries):",
                  f"  {'backend':<11} {'5-shot centroid':>15} {'logistic':>9} {'nearest':>8} "
                  f"{'1-shot':>7}"]
        for name, e in results["backends"].items():
            if "identification" not in e:
                continue
            t5 = e["identification"]["five_shot"]["top1"]
            lines.append(f"  {name:<11} {100 * t5['centroid']:14.2f}% "
                         f"{100 * t5['logistic']:8.2f}% {100 * t5['nearest_photo']:7.2f}% "
                         f"{100 * e['identification']['one_shot']['top1']:6.2f}%")
    if results.get("roc_png"):
        lines += ["", f"ROC curve: {results['roc_png']}"]
    return lines

