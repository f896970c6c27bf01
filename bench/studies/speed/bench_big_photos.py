"""Big photos (issue 26): answers and time of 12-megapixel photos, the sources imported
(``PYTHONPATH=<a checkout>/src`` measures that one), beside ``cv2.imread`` in the same run.

The wild sets' validation photos (``wild/{bollywood6,actors6}/validation``, 640 px web photos)
upscaled to a camera's 4000×3000 (or 3000×4000) JPEG, q90, made once into ``--photos``. A model
per set is trained on its ``train/`` photos (kept in ``--models``; the photos there are 640 px,
so the big-photo path does not touch them) and each big photo is answered twice:

* **answer**: ``predict_subject(photo, subject="known")`` (as ``lookalike evaluate`` answers a
  photo filed under a person): right or wrong against its folder, the first face's box;
* **time**: ``predict(photo)`` (as ``lookalike predict`` answers it, first face only), the
  embedding cache off, wall and CPU, interleaved photo by photo with ``cv2.imread`` of the
  same file (``--warm``: after compiling both orientations' detector shapes).

Usage::

    python -m bench.studies.speed.bench_big_photos --photos /tmp/big12 \
        --models /tmp/bigmodels --name big_after
    python -m bench.studies.speed.bench_big_photos --compare big_before big_after

``--stages``: per photo, each network's inferences (YuNet's input shapes, SFace's batch sizes),
the decodes and the CPU of each; the summary adds their totals (``inferences``), which do not
depend on the machine's load (bench/studies/speed/NOTES-tail.md).

Writes ``bench/studies/speed/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, data_home, machine  # noqa: E402

SETS = ["bollywood6", "actors6"]
os.environ.setdefault("LOOKALIKE_PROGRESS", "0")


def make_photos(folder: Path, step: int) -> list[tuple[str, str, Path]]:
    """(set, person, path) of the 12 MP copies of every ``step``-th validation photo."""
    from PIL import Image

    out = []
    for s in SETS:
        files = sorted((data_home() / "wild" / s / "validation").glob("*/*.jpg"))[::step]
        for f in files:
            p = folder / s / f"{f.parent.name}__{f.stem}.jpg"
            if not p.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
                im = Image.open(f).convert("RGB")
                w, h = im.size
                tw, th = (4, 3) if w >= h else (3, 4)
                cw, ch = min(w, h * tw // th), min(h, w * th // tw)
                im = im.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw,
                              (h - ch) // 2 + ch))
                im = im.resize((1000 * tw, 1000 * th), Image.Resampling.BICUBIC)
                im.save(p, "JPEG", quality=90)
            out.append((s, f.parent.name, p))
    return out


def model_for(s: str, folder: Path):
    import lookalike

    path = folder / f"{s}.lookalike"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        model, _ = lookalike.train(data_home() / "wild" / s / "train", progress=False)
        model.save(path)
    return lookalike.load(path)


def run(args) -> dict:
    import cv2

    import lookalike

    photos = make_photos(args.photos, args.step)
    models = {s: model_for(s, args.models) for s in SETS}
    for m in models.values():
        m.pipeline.cache = None  # every photo analysed afresh
    if args.warm:  # each model's networks compiled for both orientations' input shapes
        from PIL import Image

        for s in SETS:
            seen: set[bool] = set()
            for s2, _, p in photos:
                with Image.open(p) as im:
                    wide = im.width >= im.height
                if s2 == s and wide not in seen:
                    seen.add(wide)
                    for _ in range(3):
                        models[s].predict(p)
    stages = {s: Stages(models[s]) for s in SETS} if args.stages else {}
    rows = []
    load0 = os.getloadavg()
    for s, person, p in photos:
        rec = models[s]
        r = rec.predict_subject(p, subject="known")
        top = r.faces[0].top.person if r.ok else None
        if stages:
            stages[s].take()
        w0, c0 = time.perf_counter(), time.process_time()
        rec.predict(p).to_dict()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        split = stages[s].take() if stages else None
        w0, c0 = time.perf_counter(), time.process_time()
        cv2.imread(str(p))
        iwall, icpu = time.perf_counter() - w0, time.process_time() - c0
        rows.append({"set": s, "person": person, "photo": p.name, "top": top,
                     "right": top == person,
                     "box": [round(float(v), 1) for v in r.faces[0].face.box] if r.ok else None,
                     "faces": r.n_faces, "wall_ms": 1000 * wall, "cpu_ms": 1000 * cpu,
                     "imread_wall_ms": 1000 * iwall, "imread_cpu_ms": 1000 * icpu,
                     **({"stages": split} if split is not None else {})})
    return {"lookalike": lookalike.__file__, "machine": machine(), "warm": args.warm,
            "load": [load0, os.getloadavg()], "rows": rows, "summary": summary(rows)}


class Stages:
    """Per photo: how many inferences each network ran (YuNet's input shapes, SFace's batch
    sizes), the decodes made, and the CPU of each (``time.process_time``), by wrapping the
    networks' ``run`` and the face path's decode on a model's pipeline."""

    def __init__(self, rec):
        import lookalike.face.pixels as pixels

        self.log: list[tuple[str, tuple, float]] = []
        pipe = rec.pipeline
        nets = {"yunet": pipe.detector._network(), "sface": pipe.embedder._network()}
        for name, net in nets.items():
            net.run = self._timed(name, net.run, lambda blob: tuple(blob.shape))
        pixels.decode_photo = self._timed(
            "decode", pixels.decode_photo, lambda data, **kw: None, lambda out: out[0].shape)

    def _timed(self, name, fn, what, after=None):
        def wrapped(*a, **kw):
            c0 = time.process_time()
            out = fn(*a, **kw)
            info = what(*a, **kw) if after is None else after(out)
            self.log.append((name, info, time.process_time() - c0))
            return out
        return wrapped

    def take(self) -> dict:
        out: dict = {}
        for name, info, cpu in self.log:
            d = out.setdefault(name, {"n": 0, "cpu_ms": 0.0, "shapes": []})
            d["n"] += 1
            d["cpu_ms"] = round(d["cpu_ms"] + 1000 * cpu, 2)
            d["shapes"].append(list(info))
        self.log.clear()
        return out


def summary(rows: list[dict]) -> dict:
    def pct(key: str) -> dict:
        a = np.array([r[key] for r in rows])
        return {"p50": round(float(np.median(a)), 1), "p95": round(float(np.percentile(a, 95)),
                                                                   1),
                "mean": round(float(a.mean()), 1)}

    out = {"photos": len(rows), "right": sum(r["right"] for r in rows)}
    for s in SETS:
        out[f"right_{s}"] = sum(r["right"] for r in rows if r["set"] == s)
    for key in ("wall_ms", "cpu_ms", "imread_wall_ms", "imread_cpu_ms"):
        out[key] = pct(key)
    for kind in ("wall", "cpu"):
        ours, ref = out[f"{kind}_ms"], out[f"imread_{kind}_ms"]
        out[f"{kind}_p50_over_imread_p50"] = round(ours["p50"] / ref["p50"], 3)
        out[f"{kind}_p95_over_p50"] = round(ours["p95"] / ours["p50"], 3)
    if all("stages" in r for r in rows):  # --stages: what every photo ran, in all
        st = [r["stages"] for r in rows]
        out["inferences"] = {
            "yunet_runs": sum(s.get("yunet", {}).get("n", 0) for s in st),
            "sface_runs": sum(s.get("sface", {}).get("n", 0) for s in st),
            "sface_faces": sum(b[0] for s in st for b in s.get("sface", {}).get("shapes", [])),
            "decodes": sum(s.get("decode", {}).get("n", 0) for s in st)}
    return out


def compare(a: str, b: str) -> None:
    ra, rb = (json.loads((RESULTS / f"{n}.json").read_text()) for n in (a, b))
    by = {r["photo"]: r for r in ra["rows"]}
    changed = [(r["photo"], by[r["photo"]]["top"], r["top"]) for r in rb["rows"]
               if r["photo"] in by and by[r["photo"]]["top"] != r["top"]]
    print(f"{a}: {json.dumps(ra['summary'])}\n{b}: {json.dumps(rb['summary'])}")
    print(f"answers changed: {len(changed)} of {len(rb['rows'])}")
    for c in changed:
        print("  ", *c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=Path("/tmp/lookalike_big12"))
    ap.add_argument("--models", type=Path, default=Path("/tmp/lookalike_big_models"))
    ap.add_argument("--step", type=int, default=1, help="every n-th validation photo")
    ap.add_argument("--name", default="big_photos")
    ap.add_argument("--warm", action="store_true",
                    help="compile both orientations' shapes before timing (else the first "
                         "photos of each shape carry OpenVINO's compile)")
    ap.add_argument("--stages", action="store_true",
                    help="per photo: each network's inferences (shapes) and decodes, with "
                         "their CPU (adds a little CPU of its own)")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    out = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out["summary"], indent=1))


if __name__ == "__main__":
    main()
