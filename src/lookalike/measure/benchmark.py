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

FARS = (0.001, 0.01)
DEFAULT_EMBEDDERS = ("sface", "dlib", "sface+dlib")


# -- pairs.txt -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Pairs:
    """LFW pairs: image paths, whether each pair is the same person, and its fold."""

    left: list[Path]
    right: list[Path]
    same: np.ndarray  # bool (n,)
    fold: np.ndarray  # int (n,)

    def __len__(self) -> int:
        return len(self.same)


def lfw_image(lfw_dir: Path, name: str, number: int) -> Path:
    return lfw_dir / name / f"{name}_{number:04d}.jpg"


def parse_pairs(text: str, lfw_dir: str | Path = ".") -> Pairs:
    """Parse LFW's ``pairs.txt`` (header ``folds n``, then per fold ``n`` same-person lines
    ``name i j`` and ``n`` different-person lines ``name1 i name2 j``). ``pairsDevTrain.txt``
    style files (header ``n`` only) are one fold."""
    lfw_dir = Path(lfw_dir)
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DatasetError("empty pairs file", None, "use LFW's pairs.txt")
    head = lines[0]
    try:
        folds, per = (int(head[0]), int(head[1])) if len(head) == 2 else (1, int(head[0]))
    except ValueError:
        raise DatasetError("the first line of a pairs file is 'folds pairs_per_class'", None,
                           "use LFW's pairs.txt") from None
    body = lines[1:]
    if len(body) != folds * 2 * per:
        raise DatasetError(f"pairs file has {len(body)} pairs, its header promises "
                           f"{folds * 2 * per}", None, "use LFW's unmodified pairs.txt")
    left, right, same, fold = [], [], [], []
    for k, f in enumerate(body):
        if len(f) == 3:
            a, b, s = lfw_image(lfw_dir, f[0], int(f[1])), lfw_image(lfw_dir, f[0], int(f[2])), 1
        elif len(f) == 4:
            a, b, s = lfw_image(lfw_dir, f[0], int(f[1])), lfw_image(lfw_dir, f[2], int(f[3])), 0
        else:
            raise DatasetError(f"line {k + 2} of the pairs file is not a pair: {' '.join(f)}",
                               None, "use LFW's unmodified pairs.txt")
        left.append(a)
        right.append(b)
        same.append(s)
        fold.append(k // (2 * per))
    return Pairs(left, right, np.array(same, bool), np.array(fold, int))


def subset_pairs(pairs: Pairs, per_class: int) -> Pairs:
    """The first ``per_class`` same-person and different-person pairs of each fold (a smaller
    run of the same protocol, for slow backends)."""
    keep: list[int] = []
    for k in np.unique(pairs.fold):
        for s in (True, False):
            keep += np.flatnonzero((pairs.fold == k) & (pairs.same == s))[:per_class].tolist()
    keep.sort()
    return Pairs([pairs.left[i] for i in keep], [pairs.right[i] for i in keep], pairs.same[keep],
                 pairs.fold[keep])


# -- verification metrics (pure) -----------------------------------------------------------

def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold ``t`` (pairs with ``score >= t`` are called the same person) with the best
    accuracy on these pairs, and that accuracy. ``t`` is the midpoint between neighbouring
    scores, so it generalises to unseen pairs."""
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2,
                                 [values[-1] + 1e-6]])
    pos = np.sort(scores[same])
    neg = np.sort(scores[~same])
    true_neg = np.searchsorted(neg, candidates, side="left")  # negatives below t
    true_pos = len(pos) - np.searchsorted(pos, candidates, side="left")  # positives at/above t
    acc = (true_neg + true_pos) / len(scores)
    best = int(np.argmax(acc))
    return float(candidates[best]), float(acc[best])


def kfold_verification(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> dict:
    """LFW's protocol: per fold, the best threshold on the other folds, tested on this one."""
    scores, same, fold = np.asarray(scores), np.asarray(same, bool), np.asarray(fold)
    accs, thresholds = [], []
    correct = np.zeros(len(scores), bool)
    for k in np.unique(fold):
        test = fold == k
        t, _ = best_threshold(scores[~test], same[~test])
        correct[test] = (scores[test] >= t) == same[test]
        accs.append(float(np.mean(correct[test])))
        thresholds.append(t)
    return {"mean_accuracy": float(np.mean(accs)), "std": float(np.std(accs)),
            "fold_accuracies": accs, "fold_thresholds": thresholds,
            "mean_threshold": float(np.mean(thresholds)), "_correct": correct}


def threshold_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """The lowest threshold ``t`` (same person when ``score >= t``) whose false-accept rate on
    the different-person pairs is at most ``far``."""
    neg = np.sort(np.asarray(scores, np.float64)[~np.asarray(same, bool)])[::-1]
    allowed = int(np.floor(far * len(neg) + 1e-9))  # false accepts allowed
    if allowed >= len(neg):
        return float(neg[-1])
    return float(np.nextafter(neg[allowed], np.inf))  # just above the first refused negative


def rates_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """(TAR, FAR) when pairs with ``score >= threshold`` are called the same person."""
    scores, same = np.asarray(scores), np.asarray(same, bool)
    accept = scores >= threshold
    return float(np.mean(accept[same])), float(np.mean(accept[~same]))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the operating point with false-accept rate at most ``far``."""
    t = threshold_at_far(scores, same, far)
    return rates_at(scores, same, t)[0], t


def roc_auc(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(FAR, TAR, AUC) over all thresholds."""
    from sklearn.metrics import auc, roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(same, int), np.asarray(scores))
    return fpr, tpr, float(auc(fpr, tpr))


# -- identification metrics (pure) ---------------------------------------------------------

def split_shots(people: dict[str, list[Path]], shots: int, min_photos: int
                ) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    """People with ≥ ``min_photos`` photos: the first ``shots`` (sorted) train, the rest test."""
    names = sorted(p for p, files in people.items() if len(files) >= min_photos)
    train, test = [], []
    for k, name in enumerate(names):
        files = sorted(people[name])
        train += [(f, k) for f in files[:shots]]
        test += [(f, k) for f in files[shots:]]
    return names, train, test


def few_shot_top1(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray,
                  heads: Sequence[str] = ("centroid", "logistic"),
                  radius: float | None = None) -> dict[str, float]:
    """Top-1 accuracy of each head trained on (X, y), tested on (Xt, yt); ``radius``: the
    centroid head's robust centre, as training makes it (with it, ``centroid_mean`` is the
    plain mean's figure too)."""
    from lookalike.answer.heads import make_head

    n = int(max(y.max(), yt.max())) + 1
    out = {}
    for name in heads:
        proba = make_head(name, radius=radius).fit(X, y, n).predict_proba(Xt)
        out[name] = float(np.mean(proba.argmax(1) == yt))
    if radius is not None and "centroid" in heads:
        proba = make_head("centroid").fit(X, y, n).predict_proba(Xt)
        out["centroid_mean"] = float(np.mean(proba.argmax(1) == yt))
    return out


def nearest_top1(gallery: np.ndarray, g_labels: np.ndarray, queries: np.ndarray,
                 q_labels: np.ndarray, chunk: int = 2048) -> float:
    """Top-1 accuracy of nearest-neighbour search (cosine) of queries in the gallery."""
    hits = 0
    for s in range(0, len(queries), chunk):
        sims = queries[s:s + chunk] @ gallery.T
        hits += int(np.sum(g_labels[sims.argmax(1)] == q_labels[s:s + chunk]))
    return hits / max(len(queries), 1)


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

def lfw_people(lfw_dir: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(lfw_dir.iterdir()) if d.is_dir()}


def find_pairs(data_home: str | Path | None = None) -> tuple[Path, Path]:
    """(``lfw_funneled`` folder, ``pairs.txt``) from ``--data-home``, ``$LOOKALIKE_DATA`` or
    ``../shared/data`` (never downloads)."""
    from lookalike.photos.public import find_lfw

    lfw_dir = find_lfw(data_home, download=False)
    for cand in (lfw_dir.parent / "pairs.txt", lfw_dir / "pairs.txt"):
        if cand.is_file():
            return lfw_dir, cand
    raise DatasetError("no pairs.txt beside the LFW photos", lfw_dir.parent,
                       "put LFW's pairs.txt in lfw_home/ (scikit-learn's loader fetches it)")


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

