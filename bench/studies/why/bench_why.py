"""Is "why do they look alike?" (:mod:`lookalike.answer.why`) faithful, stable and cheap?

One command:
``python -m bench.studies.why.bench_why [--pairs 150] [--parts eyes,nose,...] [--sigma 8]``.

Pairs: LFW ``pairs.txt`` same-person pairs (the first ``--pairs``, spread over the 10 folds), and
look-alike pairs: for LFW photos of pairs.txt, each face's nearest *different-person* face, the
``--pairs`` most similar such pairs (distinct photos). SFace, views as ``lookalike.answer.why``
reads
them (the 112×112 aligned crop).

1. Deletion test: the parts the explanation ranks first and last are masked with a different
   fill than the explanation used (the face's mean colour, hard edges; with the explanation's
   own blur fill it would hold by construction), in one face at a time (the drops averaged, as
   the explanation does): how often does masking the first lower the similarity more than
   masking the last? Also reported: masking the part in both faces at once (their masked
   patches then look alike, which raises the similarity: a confounded, harder test).
2. Stability: the pair mirrored (both views flipped left-right), and shifted by 2 px (both views
   moved 2 px in one of 8 directions, the parts' regions staying on the template): how often is
   the ranking of parts the same (all of it, and its first part)?
   Also: the *photos* shifted by 2 px and their faces found and aligned again (what a user's
   slightly different crop does; the alignment undoes most of the shift).
3. Cost: ms per explained pair (both faces' embeddings known, as in ``compare``), wall and
   CPU, against one bare SFace inference (batch of 1) in the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import data_home, machine, save  # noqa: E402
from lookalike.answer.why import DEFAULT_PARTS, Explainer, part_masks  # noqa: E402
from lookalike.face.pipeline import FacePipeline, decode_for_faces  # noqa: E402
from lookalike.measure.lfw import find_pairs, parse_pairs  # noqa: E402
from lookalike.photos.images import read_bytes  # noqa: E402
from lookalike.progress import bar  # noqa: E402


def first_face(pipe: FacePipeline, path: Path):
    res = pipe.analyze(path, first_only=True)
    if not res.faces:
        return None
    rgb, _ = decode_for_faces(read_bytes(path), path)
    return rgb, res.faces[0], res.embeddings[0]


def shifted_photo(pipe: FacePipeline, rgb: np.ndarray, dx: int, dy: int):
    """The photo moved by (dx, dy) px, its face found and embedded again (None: no face)."""
    moved = shift(rgb, dx, dy)
    res = pipe.analyze_array(moved, first_only=True)
    return (moved, res.faces[0], res.embeddings[0]) if res.faces else None


def same_pairs(pairs, n: int) -> list[tuple[Path, Path]]:
    idx = np.flatnonzero(pairs.same)
    per = int(np.ceil(n / len(np.unique(pairs.fold))))
    keep = [i for k in np.unique(pairs.fold) for i in idx[pairs.fold[idx] == k][:per]][:n]
    return [(pairs.left[i], pairs.right[i]) for i in keep]


def lookalike_pairs(pipe: FacePipeline, pairs, n: int, quiet: bool
                    ) -> list[tuple[Path, Path, float]]:
    """The n most similar different-person pairs among pairs.txt's photos (distinct photos)."""
    paths = sorted(set(pairs.left) | set(pairs.right))[:3000]
    emb, keep = [], []
    for p in bar(paths, desc="look-alike pool", enabled=not quiet):
        r = pipe.analyze(p, first_only=True)
        if r.faces:
            emb.append(r.embeddings[0])
            keep.append(p)
    E = np.stack(emb)
    who = np.array([p.parent.name for p in keep])
    S = E @ E.T
    S[who[:, None] == who[None, :]] = -2.0
    iu = np.triu_indices(len(keep), 1)
    order = np.argsort(-S[iu])
    used: set[int] = set()
    out = []
    for k in order:
        i, j = int(iu[0][k]), int(iu[1][k])
        if i in used or j in used:
            continue
        used |= {i, j}
        out.append((keep[i], keep[j], float(S[i, j])))
        if len(out) == n:
            break
    return out


def deletion_mask(view: np.ndarray, masks: np.ndarray, fill: str) -> np.ndarray:
    """The deletion test's masking: hard-edged regions filled with the view's mean colour
    (``fill="mean"``) or a strongly blurred copy (``"blur"``): the fill the explanation does
    not use."""
    import cv2

    hard = (masks >= 0.5)[:, :, :, None]
    if fill == "mean":
        f = view.reshape(-1, 3).mean(axis=0)[None, None, None, :]
    else:
        f = cv2.GaussianBlur(view.astype(np.float32), (0, 0), 12.0)[None]
    return np.where(hard, f, view[None]).astype(np.uint8)


#: The 8 moves of 2 px the stability test shifts a pair by.
SHIFTS_2PX = [(2, 0), (-2, 0), (0, 2), (0, -2), (2, 2), (-2, -2), (2, -2), (-2, 2)]


def shift(view: np.ndarray, dx: int, dy: int) -> np.ndarray:
    import cv2

    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(view, m, view.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def run(ex: Explainer, pipe: FacePipeline, items, rng: np.random.Generator, quiet: bool,
        label: str) -> dict:
    masks = part_masks(112, 0.0, ex.parts)
    n_parts = len(ex.parts)
    deletion, deletion_both, mirror_all, mirror_top, shift_all, shift_top, tau_m, tau_s = (
        [] for _ in range(8))
    said_m, said_s = [], []  # the sentence (the parts it names, in order) unchanged
    photo_all, photo_top, said_p = [], [], []  # the photos shifted, faces found again
    firsts: dict[str, int] = {}
    dirs = SHIFTS_2PX
    for a, b in bar(items, desc=label, enabled=not quiet):
        va, vb = ex.view(a[0], a[1]), ex.view(b[0], b[1])
        why = ex.explain_views(va, vb, (a[2], b[2]))
        rank = why.ranking()
        firsts[rank[0]] = firsts.get(rank[0], 0) + 1
        first, last = ex.parts.index(rank[0]), ex.parts.index(rank[-1])
        sel = masks[[first, last]]
        fill = "mean" if ex.fill == "blur" else "blur"
        e = ex.embed_views(np.concatenate([deletion_mask(va, sel, fill),
                                           deletion_mask(vb, sel, fill)]))
        ea, eb = a[2], b[2]
        # one face at a time, as the explanation hides parts, but with another fill
        d_first = 2 * float(ea @ eb) - float(e[0] @ eb) - float(ea @ e[2])
        d_last = 2 * float(ea @ eb) - float(e[1] @ eb) - float(ea @ e[3])
        deletion.append(d_first > d_last)
        # both faces at once (their masked patches alike: a harder, confounded test)
        deletion_both.append(float(e[0] @ e[2]) < float(e[1] @ e[3]))
        m = ex.explain_views(np.ascontiguousarray(va[:, ::-1]), np.ascontiguousarray(vb[:, ::-1]))
        dx, dy = dirs[int(rng.integers(len(dirs)))]
        s = ex.explain_views(shift(va, dx, dy), shift(vb, dx, dy))
        said_m.append(m.sentence == why.sentence)
        said_s.append(s.sentence == why.sentence)
        dx, dy = dirs[int(rng.integers(len(dirs)))]
        pa, pb = shifted_photo(pipe, a[0], dx, dy), shifted_photo(pipe, b[0], dx, dy)
        if pa is not None and pb is not None:
            p = ex.explain_views(ex.view(pa[0], pa[1]), ex.view(pb[0], pb[1]), (pa[2], pb[2]))
            photo_all.append(p.ranking() == rank)
            photo_top.append(p.ranking()[0] == rank[0])
            said_p.append(p.sentence == why.sentence)
        for other, all_, top, tau in ((m, mirror_all, mirror_top, tau_m),
                                      (s, shift_all, shift_top, tau_s)):
            r2 = other.ranking()
            all_.append(r2 == rank)
            top.append(r2[0] == rank[0])
            tau.append(kendall(rank, r2))
    pct = lambda v: round(100.0 * float(np.mean(v)), 1)  # noqa: E731
    return {"pairs": len(items), "parts": n_parts,
            "deletion_first_beats_last_pct": pct(deletion),
            "deletion_both_faces_first_beats_last_pct": pct(deletion_both),
            "mirror_same_ranking_pct": pct(mirror_all), "mirror_same_first_pct": pct(mirror_top),
            "mirror_kendall_tau_mean": round(float(np.mean(tau_m)), 3),
            "mirror_same_sentence_pct": pct(said_m), "shift2px_same_sentence_pct": pct(said_s),
            "photo_shift2px_same_ranking_pct": pct(photo_all),
            "photo_shift2px_same_first_pct": pct(photo_top),
            "photo_shift2px_same_sentence_pct": pct(said_p),
            "photo_shift2px_pairs": len(photo_all),
            "shift2px_same_ranking_pct": pct(shift_all),
            "shift2px_same_first_pct": pct(shift_top),
            "shift2px_kendall_tau_mean": round(float(np.mean(tau_s)), 3),
            "first_part_counts": dict(sorted(firsts.items(), key=lambda kv: -kv[1]))}


def kendall(r1: list[str], r2: list[str]) -> float:
    pos = {p: i for i, p in enumerate(r2)}
    n, agree = len(r1), 0
    for i in range(n):
        for j in range(i + 1, n):
            agree += 1 if pos[r1[i]] < pos[r1[j]] else -1
    return agree / (n * (n - 1) / 2)


def cost(ex: Explainer, items, repeat: int) -> dict:
    net = ex.embedder._network()
    va, vb = ex.view(items[0][0][0], items[0][0][1]), ex.view(items[0][1][0], items[0][1][1])
    base = (items[0][0][2], items[0][1][2])
    one = np.ascontiguousarray(va.transpose(2, 0, 1)[None], dtype=np.float32)
    for _ in range(3):
        net.run(one)
        ex.explain_views(va, vb, base)
    bare, why, loop, bare_cpu, why_cpu, top3, top3_cpu = [], [], [], [], [], [], []
    for _ in range(repeat):  # interleaved, so load changes hit both alike
        t, c = time.perf_counter(), time.process_time()
        net.run(one)
        bare.append(time.perf_counter() - t)
        bare_cpu.append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        a, b = items[_ % len(items)]
        ex.explain_views(ex.view(a[0], a[1]), ex.view(b[0], b[1]), (a[2], b[2]))
        why.append(time.perf_counter() - t)
        why_cpu.append(time.process_time() - c)
        # what predict --why pays per match: one face against its top 3 matches
        # (explain_result: the face's own looks through the network once)
        t, c = time.perf_counter(), time.process_time()
        others = [items[(_ + k) % len(items)][1] for k in range(3)]
        ex.explain_many(ex.view(a[0], a[1]), [ex.view(o[0], o[1]) for o in others])
        top3.append((time.perf_counter() - t) / 3)
        top3_cpu.append((time.process_time() - c) / 3)
    masks = part_masks(112, 0.0, ex.parts)
    if ex.method == "contribution":  # both faces to SFace's last map, per look
        n_crops = 2 * len(ex.looks())
    else:  # the pair's own vectors known
        n_crops = len(ex.looks()) * (2 * len(masks) + 2) - 2
    views = np.stack([va] * n_crops)
    for _ in range(max(3, repeat // 4)):
        t = time.perf_counter()
        for v in views:
            net.run(np.ascontiguousarray(v.transpose(2, 0, 1)[None], dtype=np.float32))
        loop.append(time.perf_counter() - t)
    med = lambda v: float(np.median(v)) * 1000  # noqa: E731
    return {"bare_sface_ms_p50": round(med(bare), 2),
            "explained_pair_ms_p50": round(med(why), 1),
            "explained_pair_ms_p90": round(float(np.percentile(why, 90)) * 1000, 1),
            "explained_pair_in_bare_inferences": round(med(why) / med(bare), 2),
            "bare_sface_cpu_ms_p50": round(med(bare_cpu), 2),
            "explained_pair_cpu_ms_p50": round(med(why_cpu), 1),
            "top3_explained_match_ms_p50": round(med(top3), 1),
            "top3_explained_match_in_bare_inferences": round(med(top3) / med(bare), 2),
            "top3_explained_match_cpu_ms_p50": round(med(top3_cpu), 1),
            "top3_explained_match_cpu_in_bare_inferences": round(med(top3_cpu) / med(bare_cpu),
                                                                  2),
            "explained_pair_cpu_in_bare_inferences": round(med(why_cpu) / med(bare_cpu), 2),
            "method": ex.method,
            "mirror_average": ex.mirror,
            "cell_blur": ex.cell_blur if ex.method == "contribution" else None,
            "threads": __import__("lookalike.runtime", fromlist=["threads"]).threads(),
            "crops_per_pair": n_crops,
            "same_crops_one_by_one_ms_p50": round(med(loop), 1),
            "repeat": repeat}


def faced_pairs(pipe, pairs) -> list[tuple]:
    """The pairs whose two photos both have a face: ``(first_face(a), first_face(b))``."""
    out = []
    for a, b in pairs:
        fa, fb = first_face(pipe, a), first_face(pipe, b)
        if fa is not None and fb is not None:
            out.append((fa, fb))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=150, help="pairs of each kind")
    ap.add_argument("--parts", default=",".join(DEFAULT_PARTS), help="comma-separated parts")
    ap.add_argument("--sigma", type=float, default=None, help="the fill's blur sigma")
    ap.add_argument("--fill", choices=("blur", "mean"), default="blur")
    ap.add_argument("--method", choices=("contribution", "occlusion"), default=None,
                    help="the explanation's method (default: the Explainer's for SFace f32)")
    ap.add_argument("--uncentred", action="store_true",
                    help="contribution method: against an empty cell, not the face's mean cell")
    ap.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                    help="average with the mirrored pair (default: the Explainer's: on for the "
                         "contribution method, off for occlusion)")
    ap.add_argument("--cell-blur", type=float, default=None,
                    help="contribution method: the parts' regions blurred by this many px "
                         "before they weigh the cells (default: the product's; 0: the "
                         "third pass's hard areas)")
    ap.add_argument("--jitter", type=int, default=None,
                    help="also average over the pair moved by this many px (4 directions)")
    ap.add_argument("--sets", default="same_person,lookalike")
    ap.add_argument("--repeat", type=int, default=40, help="timed explanations")
    ap.add_argument("--name", default="why", help="bench/studies/why/results/<name>.json")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    start = machine()
    pipe = FacePipeline("sface")
    kw = {} if args.sigma is None else {"sigma": args.sigma}
    if args.jitter is not None:
        kw["jitter"] = args.jitter
    if args.cell_blur is not None:
        kw["cell_blur"] = args.cell_blur
    ex = Explainer(pipe.embedder, parts=args.parts.split(","), fill=args.fill,
                   mirror=args.mirror, method=args.method, centred=not args.uncentred, **kw)
    lfw_dir, pairs_txt = find_pairs(data_home())
    pairs = parse_pairs(pairs_txt.read_text(), lfw_dir)
    rng = np.random.default_rng(0)
    out: dict = {"machine": start, "method": ex.method, "centred": ex.centred,
                 "parts": list(ex.parts), "sigma": ex.sigma,
                 "fill": ex.fill, "mirror_average": ex.mirror, "cell_blur": ex.cell_blur,
                 "jitter": ex.jitter}
    wanted = args.sets.split(",")
    sets = {}
    if "same_person" in wanted:
        sets["same_person"] = same_pairs(pairs, args.pairs)
    if "lookalike" in wanted:
        sets["lookalike"] = [(a, b) for a, b, _ in lookalike_pairs(pipe, pairs, args.pairs,
                                                                   args.quiet)]
    loaded = {}
    for name, pl in sets.items():
        items = loaded[name] = faced_pairs(pipe, pl)
        out[name] = run(ex, pipe, items, rng, args.quiet, name)
        sims = [float(x[0][2] @ x[1][2]) for x in items]
        out[name]["similarity_mean"] = round(float(np.mean(sims)), 3)
        print(name, out[name], flush=True)
    out["cost"] = cost(ex, next(iter(loaded.values())), args.repeat)
    out["load_average_at_end"] = [round(v, 2) for v in __import__("os").getloadavg()]
    print("cost", out["cost"])
    save(args.name, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
