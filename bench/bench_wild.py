"""Real web photos (issue 21): top-1 of today's defaults, of an earlier release and of a naive
pipeline, on the same splits, in one command.

    .venv/bin/python bench/bench_wild.py [--before REF] [--folds 5] [--lfw]

Sets: ``wild/bollywood6`` and ``wild/actors6`` (uncropped web photos, their own train /
validation split), ``lfw7``, and the two wild halves pooled (12 people) in ``--folds``
person-stratified folds (every photo is a validation photo once: 936 answers instead of 186).

- **today**: ``lookalike.train`` with the defaults, each validation photo answered as
  ``lookalike evaluate`` answers it.
- **before** (``--before REF``, e.g. ``a7343e2``): the same through REF's own code, checked
  out into a temporary git worktree and run in a subprocess (its CLI for the fixed splits, its
  Python API for the folds); the embedding cache is shared, so it costs little.
- **naive**: YuNet's detections scoring >= 0.8, the largest face, SFace, scikit-learn's
  logistic regression (defaults) — the pipeline the issue measures us against, on the same
  analyses.
- ``--lfw``: LFW 10-fold verification and few-shot identification (``bench_lfw.py``'s code).

Writes bench/results/wild.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, data_home, machine, save  # noqa: E402

SETS = ["wild/bollywood6", "wild/actors6", "lfw7"]
POOLED = ["wild/bollywood6", "wild/actors6"]


# -- the photos of a set, with their fold ---------------------------------------------------

def photos_of(root: Path) -> list[tuple[str, str, Path]]:
    """(subset, person, path) of every photo under ``root/{train,validation}/<person>/``."""
    from lookalike.photos.folders import discover

    ds = discover(root)
    return [(ph.subset, ph.person, ph.path) for ph in ds.photos]


def folds_of(items: list[tuple[str, Path]], k: int, seed: int = 0) -> list[int]:
    """A fold per (person, path): each person's photos dealt round-robin in a seeded order."""
    rng = np.random.default_rng(seed)
    fold = [0] * len(items)
    people = sorted({p for p, _ in items})
    for person in people:
        idx = [i for i, (p, _) in enumerate(items) if p == person]
        for j, i in enumerate(rng.permutation(idx)):
            fold[i] = j % k
    return fold


# -- today's code, and an earlier release's (the same function, run by REF's code) -----------

def run_today(train_items, val_items) -> dict:
    """Train on (person, path) and answer each validation photo as ``evaluate`` does."""
    from lookalike.errors import ImageError
    from lookalike.models.train import train
    from lookalike.photos.folders import Dataset, Photo

    photos = [Photo(Path(p), person, "train") for person, p in train_items]
    photos += [Photo(Path(p), person, "validation") for person, p in val_items]
    root = Path(os.path.commonpath([str(ph.path) for ph in photos]))
    ds = Dataset(root, "split-folders", photos, sorted({ph.person for ph in photos}))
    model, report = train(ds, progress=False)
    subject = "known" if hasattr(model, "predict_subject") else None
    right, n, errors = 0, 0, []
    for person, p in val_items:
        if person not in model.labels:
            continue
        try:
            if subject:
                res = model.predict_subject(p, subject=subject, all_faces=True)
            else:
                res = model.predict(p)
        except ImageError:
            res = None
        n += 1
        if res is None or not res.faces:
            errors.append([str(p), None, "no face"])
            continue
        top = res.faces[0].top.person
        right += top == person
        if top != person:
            other = any(f.top.person == person for f in res.faces[1:])
            errors.append([str(p), top, "face choice" if other else "identity"])
    return {"right": right, "n": n, "errors": errors,
            "distrusted": len(getattr(report, "distrusted", []))}


def predict_cpu(train_items, photos, rounds: int = 3) -> dict:
    """CPU seconds per photo of ``predict`` (the default answer, embedding cache off) on
    ``photos``, after one warm-up pass; the best of ``rounds`` passes."""
    from lookalike.face.pipeline import FacePipeline
    from lookalike.models.train import train
    from lookalike.photos.folders import Dataset, Photo

    ph = [Photo(Path(p), person, "train") for person, p in train_items]
    root = Path(os.path.commonpath([str(x.path) for x in ph]))
    model, _ = train(Dataset(root, "split-folders", ph, sorted({x.person for x in ph})),
                     progress=False, validation_fraction=0.0)
    model._pipeline = FacePipeline(model.manifest["embedder"]["name"], cache=False)
    for p in photos:
        model.predict(p)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for p in photos:
            model.predict(p)
        best = min(best, (time.process_time() - t0) / len(photos))
    return {"cpu_ms_per_photo": round(1000 * best, 2), "photos": len(photos)}


BEFORE_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import bench_wild
job = json.load(open(sys.argv[2]))
if job.get("cpu"):
    print(json.dumps(bench_wild.predict_cpu(job["train"], job["photos"])))
else:
    print(json.dumps(bench_wild.run_today(job["train"], job["val"])))
"""


def cpu_in_subprocess(train_items, photos, src: Path) -> dict:
    """:func:`predict_cpu` in a fresh process whose ``lookalike`` comes from ``src``."""
    job = Path(tempfile.mkdtemp()) / "job.json"
    job.write_text(json.dumps({"cpu": True, "train": [[a, str(b)] for a, b in train_items],
                               "photos": [str(p) for p in photos]}))
    env = dict(os.environ, PYTHONPATH=str(src), LOOKALIKE_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", BEFORE_SCRIPT, str(Path(__file__).parent),
                          str(job)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


class Before:
    """An earlier release's code in a temporary worktree, run in subprocesses."""

    def __init__(self, ref: str):
        self.ref = ref
        self.dir = Path(tempfile.mkdtemp(prefix="lookalike-before-"))
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(self.dir / "wt"), ref],
                       cwd=REPO, check=True)

    def run(self, train_items, val_items) -> dict:
        job = self.dir / "job.json"
        job.write_text(json.dumps({"train": [[a, str(b)] for a, b in train_items],
                                   "val": [[a, str(b)] for a, b in val_items]}))
        env = dict(os.environ, PYTHONPATH=str(self.dir / "wt" / "src"), LOOKALIKE_PROGRESS="0")
        out = subprocess.run([sys.executable, "-c", BEFORE_SCRIPT, str(Path(__file__).parent),
                              str(job)], env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(self.dir / "wt")], cwd=REPO)


# -- the naive pipeline ------------------------------------------------------------------------

def naive_face(analysis, min_score: float = 0.8):
    ok = [i for i, f in enumerate(analysis.faces) if f.score >= min_score]
    return max(ok, key=lambda i: analysis.faces[i].area) if ok else None


def run_naive(train_items, val_items, analyse) -> dict:
    from sklearn.linear_model import LogisticRegression

    X, y = [], []
    for person, p in train_items:
        a = analyse(p)
        i = None if a is None else naive_face(a)
        if i is not None:
            X.append(a.embeddings[i])
            y.append(person)
    clf = LogisticRegression(max_iter=2000).fit(np.stack(X), np.array(y))
    right, n, errors = 0, 0, []
    for person, p in val_items:
        if person not in clf.classes_:
            continue
        n += 1
        a = analyse(p)
        i = None if a is None else naive_face(a)
        if i is None:
            errors.append([str(p), None, "no face >= 0.8"])
            continue
        top = str(clf.predict(a.embeddings[i:i + 1])[0])
        right += top == person
        if top != person:
            errors.append([str(p), top, ""])
    return {"right": right, "n": n, "errors": errors}


def analyser():
    from lookalike.errors import ImageError
    from lookalike.face.pipeline import FacePipeline

    pipe = FacePipeline("sface")

    def analyse(path):
        try:
            return pipe.analyze(path)
        except ImageError:
            return None
    return analyse


# -- the runs ----------------------------------------------------------------------------------

def fixed_split(root: Path, methods: dict) -> dict:
    items = photos_of(root)
    tr = [(p, path) for s, p, path in items if s == "train"]
    va = [(p, path) for s, p, path in items if s == "validation"]
    return {name: run(tr, va) for name, run in methods.items()}


def pooled_folds(roots: list[Path], k: int, methods: dict) -> dict:
    items = [(p, path) for r in roots for _, p, path in photos_of(r)]
    fold = folds_of(items, k)
    out: dict = {}
    for f in range(k):
        tr = [it for it, g in zip(items, fold, strict=True) if g != f]
        va = [it for it, g in zip(items, fold, strict=True) if g == f]
        for name, run in methods.items():
            r = run(tr, va)
            acc = out.setdefault(name, {"right": 0, "n": 0, "errors": [], "per_fold": []})
            acc["right"] += r["right"]
            acc["n"] += r["n"]
            acc["errors"] += r["errors"]
            acc["per_fold"].append(round(r["right"] / max(r["n"], 1), 4))
    return out


def lfw_figures() -> dict:
    from lookalike.measure.benchmark import public, run_lfw

    with tempfile.TemporaryDirectory() as tmp:
        res = run_lfw(data_home(), embedders=["sface"], out_dir=tmp, identify=True,
                      log=lambda m: print(m, file=sys.stderr))
    return public(res)


def polluted_few_shot(wrong_per_person=(0, 1, 2, 3), seed: int = 0) -> dict:
    """LFW 5-shot (people with >= 10 photos: the first 5 train, the rest test) with
    ``k`` wrong photos added to each person's training photos (photos of people with fewer
    than 10 photos: strangers filed under them), top-1 of the centroid head with the plain
    mean, with the robust centre (the default), and of the logistic head."""
    from lookalike.answer.heads import make_head
    from lookalike.face.embedders import SFaceEmbedder
    from lookalike.measure.benchmark import embed_photos
    from lookalike.measure.lfw import lfw_people, split_shots

    lfw_dir = data_home() / "lfw_home" / "lfw_funneled"
    people = lfw_people(lfw_dir)
    names, train, test = split_shots(people, shots=5, min_photos=10)
    strangers = [p for n, files in people.items() if len(files) < 10 for p in files]
    rng = np.random.default_rng(seed)
    extra = list(rng.choice(strangers, size=len(names) * max(wrong_per_person),
                            replace=False))
    emb = embed_photos([p for p, _ in train] + [p for p, _ in test] + extra, "sface",
                       progress=False)
    X0, y0 = emb.of([p for p, _ in train]), np.array([k for _, k in train])
    Xt, yt = emb.of([p for p, _ in test]), np.array([k for _, k in test])
    E = emb.of(extra)
    radius = float(SFaceEmbedder.threshold)
    out = {}
    for k in wrong_per_person:
        X = np.vstack([X0, E[:len(names) * k]])
        y = np.concatenate([y0, np.repeat(np.arange(len(names)), k)])
        row = {}
        for name, head in (("centroid_mean", make_head("centroid")),
                           ("centroid_robust", make_head("centroid", radius=radius)),
                           ("logistic", make_head("logistic"))):
            P = head.fit(X, y, len(names)).predict_proba(Xt)
            row[name] = round(float(np.mean(P.argmax(1) == yt)), 5)
        out[f"{k} wrong of {5 + k}"] = row
        print("polluted 5-shot", k, row, file=sys.stderr)
    return {"people": len(names), "test_photos": len(test), "by_wrong": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", metavar="REF", help="also run this git ref's code")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--lfw", action="store_true", help="also LFW 10-fold and few-shot")
    ap.add_argument("--cpu", type=int, default=0, metavar="N",
                    help="also predict's CPU per photo, today and --before alternately, N "
                    "times each (fresh processes, embedding cache off)")
    ap.add_argument("--name", default="wild")
    args = ap.parse_args(argv)
    os.environ.setdefault("LOOKALIKE_PROGRESS", "0")
    info = machine()
    t0 = time.perf_counter()
    analyse = analyser()
    methods = {"today": run_today, "naive": lambda tr, va: run_naive(tr, va, analyse)}
    before = Before(args.before) if args.before else None
    if before:
        methods["before"] = before.run
    results: dict = {}
    try:
        for s in SETS:
            root = data_home() / s
            if root.exists():
                results[s] = fixed_split(root, methods)
                print(s, {m: f"{r['right']}/{r['n']}" for m, r in results[s].items()},
                      file=sys.stderr)
        roots = [data_home() / s for s in POOLED if (data_home() / s).exists()]
        if roots and args.folds > 1:
            name = f"wild pooled, {args.folds} folds"
            results[name] = pooled_folds(roots, args.folds, methods)
        if args.cpu:
            results["_cpu"] = cpu_runs(args.cpu, before)
    finally:
        if before:
            before.close()
    lfw = lfw_figures() if args.lfw else None
    if args.lfw:
        lfw["polluted_five_shot"] = polluted_few_shot()
    table = table_lines(results, list(methods))
    print("\n".join(table))
    save(args.name, {"machine": info, "before": args.before, "seconds":
                     round(time.perf_counter() - t0, 1), "sets": results, "lfw": lfw,
                     "table": table})
    return 0


def cpu_runs(n: int, before: Before | None) -> dict:
    """predict's CPU per photo on lfw7's and the wild set's validation photos (small and
    640 px photos), today's and REF's code alternately in fresh processes."""
    out: dict = {}
    for s in ("lfw7", "wild/actors6"):
        items = photos_of(data_home() / s)
        tr = [(p, path) for sub, p, path in items if sub == "train"]
        va = [path for sub, _, path in items if sub == "validation"]
        runs: dict = {"today": []}
        if before:
            runs["before"] = []
        for _ in range(n):
            runs["today"].append(cpu_in_subprocess(tr, va, REPO / "src")["cpu_ms_per_photo"])
            if before:
                runs["before"].append(cpu_in_subprocess(tr, va, before.dir / "wt" / "src")[
                    "cpu_ms_per_photo"])
        out[s] = {k: {"runs": v, "median": float(np.median(v))} for k, v in runs.items()}
        if before:
            out[s]["ratio_today_to_before"] = round(out[s]["today"]["median"]
                                                    / out[s]["before"]["median"], 3)
        print(s, out[s], file=sys.stderr)
    return out


def table_lines(results: dict, methods: list[str]) -> list[str]:
    head = "| set | " + " | ".join(methods) + " | today's errors: face choice / identity |"
    lines = [head, "|" + "---|" * (len(methods) + 2)]
    for s, by in results.items():
        if s.startswith("_"):
            continue
        cells = [f"{100 * by[m]['right'] / max(by[m]['n'], 1):.2f} % ({by[m]['right']}/"
                 f"{by[m]['n']})" for m in methods]
        errs = by["today"]["errors"]
        kinds = f"{sum(e[2] == 'face choice' for e in errs)} / " \
                f"{sum(e[2] == 'identity' for e in errs)}"
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {kinds} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
