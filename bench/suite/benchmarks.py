"""The regression benchmarks. Each runs in its own process under the sources being measured
(``PYTHONPATH=<ref>/src``) and returns its figures; :mod:`bench.suite.runner` runs the two refs
in turn and compares them.

To add one: write ``def name(ctx: Context) -> dict[str, float]`` that measures something a
person waits for (or an accuracy), and register it with :func:`bench`, naming each figure it
returns, whether lower or higher is better, and for accuracies the tolerance of the value.
Import ``lookalike`` inside the function (the runner decides which sources it is).
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Metric:
    name: str
    unit: str
    kind: str = "time"  # "time" / "memory": the ratio is judged; "accuracy": the value
    tolerance: float = 0.0  # accuracy: a drop within this many points is no change


@dataclass
class Bench:
    name: str
    fn: Callable[[Context], dict[str, float]]
    metrics: list[Metric]
    needs: str | None = None  # "lfw7" / "lfw": skipped when ../shared/data lacks it
    quick: bool = True  # also in --quick
    rounds: int | None = None  # fixed number of runs per side (deterministic accuracies)


@dataclass
class Context:
    inputs: Path  # the photos every side measures on (made once by the runner)
    model: Path  # a model of two people trained by the sources being measured
    scratch: Path  # an empty folder of this process
    quick: bool = False
    data: Path | None = None  # ../shared/data when present
    warm_cache: str | None = None  # the user's embedding cache (for accuracies only)
    extra: dict = field(default_factory=dict)

    def photos(self, kind: str) -> list[Path]:
        return sorted((self.inputs / kind).glob("*.jpg"))

    def lookalike(self) -> list[str]:
        """The CLI of the sources being measured (``PYTHONPATH`` decides which)."""
        return [sys.executable, "-m", "lookalike"]


BENCHMARKS: dict[str, Bench] = {}


def bench(*metrics: Metric, needs: str | None = None, quick: bool = True,
          rounds: int | None = None) -> Callable:
    def register(fn: Callable[[Context], dict[str, float]]):
        BENCHMARKS[fn.__name__] = Bench(fn.__name__, fn, list(metrics), needs, quick, rounds)
        return fn
    return register


def _reference() -> Callable[[], float]:
    """A fixed piece of OpenCV work (~10–20 ms: resize and blur a 1500×1500 image, on the same
    threads OpenCV gives the networks); returns a function that times one go."""
    import cv2
    import numpy as np

    img = np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), dtype=np.uint8)

    def once() -> float:
        t = time.perf_counter()
        cv2.GaussianBlur(cv2.resize(img, (1200, 1200)), (0, 0), 3)
        return time.perf_counter() - t
    return once


def _timed_calls(fn: Callable[[Path], object], photos: list[Path]) -> dict[str, float]:
    """Median wall and CPU (all threads of this process) milliseconds per call, and the median
    of each call's wall time over the reference work timed just before it (``x_ref``: the
    machine's speed of the moment cancels out); the first photo warms up (networks load and
    compile) and is not counted."""
    ref = _reference()
    fn(photos[0])
    ref()
    wall, cpu, rel = [], [], []
    for p in photos[1:]:
        r = ref()
        t, c = time.perf_counter(), time.process_time()
        fn(p)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        rel.append(wall[-1] / r)
    return {"latency_ms": 1000 * statistics.median(wall), "cpu_ms": 1000 * statistics.median(cpu),
            "x_ref": statistics.median(rel)}


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run_cli(ctx: Context, args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``lookalike`` process; fails loudly on a non-zero exit."""
    c, t = _child_cpu(), time.perf_counter()
    proc = subprocess.run(ctx.lookalike() + [str(a) for a in args], capture_output=True,
                          text=True)
    wall, cpu = time.perf_counter() - t, _child_cpu() - c
    if proc.returncode:
        raise RuntimeError(f"lookalike {' '.join(map(str, args))} exited {proc.returncode}:\n"
                           f"{proc.stderr[-2000:]}")
    return wall, cpu


LAT = Metric("latency_ms", "ms")
CPU = Metric("cpu_ms", "ms CPU")
REF = Metric("x_ref", "× reference work")


@bench(LAT, CPU, REF)
def predict_small(ctx: Context) -> dict[str, float]:
    """Python API: ``model.predict(photo)`` on ~500 px photos (model loaded, networks warm)."""
    import lookalike

    model = lookalike.load(ctx.model)
    return _timed_calls(model.predict, ctx.photos("small"))


@bench(LAT, CPU, REF)
def predict_12mp(ctx: Context) -> dict[str, float]:
    """Python API: ``model.predict(photo)`` on 4000×3000 JPEG photos (decode included)."""
    import lookalike

    model = lookalike.load(ctx.model)
    return _timed_calls(model.predict, ctx.photos("big"))


@bench(Metric("wall_ms", "ms"), Metric("cpu_ms", "ms CPU"), quick=False)
def predict_cli(ctx: Context) -> dict[str, float]:
    """``lookalike predict MODEL PHOTO --json``: a whole process (start, load, answer)."""
    photo = ctx.photos("small")[0]
    wall, cpu = _run_cli(ctx, ["predict", ctx.model, photo, "--json"])
    return {"wall_ms": 1000 * wall, "cpu_ms": 1000 * cpu}


@bench(LAT, CPU, REF)
def compare_api(ctx: Context) -> dict[str, float]:
    """Python API: ``lookalike.compare(a, b)`` of two ~500 px photos (networks warm)."""
    import lookalike

    small = ctx.photos("small")
    pairs = list(zip(small[0::2], small[1::2], strict=False))
    return _timed_calls(lambda ab: lookalike.compare(*ab), pairs)


@bench(Metric("s_per_photo", "s/photo"), Metric("cpu_s_per_photo", "s CPU/photo"))
def gallery_add(ctx: Context) -> dict[str, float]:
    """``lookalike gallery add G DIR --workers 1``: enrolment of 12 photos of 2 people (the
    ``gallery create`` before it is not counted)."""
    photos = list((ctx.inputs / "enrol").rglob("*.jpg"))
    _run_cli(ctx, ["gallery", "create", ctx.scratch / "gallery"])
    wall, cpu = _run_cli(ctx, ["gallery", "add", ctx.scratch / "gallery", ctx.inputs / "enrol",
                               "--workers", "1", "-q"])
    return {"s_per_photo": wall / len(photos), "cpu_s_per_photo": cpu / len(photos)}


@bench(Metric("s_per_photo", "s/photo"), Metric("cpu_s_per_photo", "s CPU/photo"), quick=False)
def group_api(ctx: Context) -> dict[str, float]:
    """Python API: ``lookalike.group([folder])`` of 12 unlabelled photos (plus imports)."""
    photos = list((ctx.inputs / "group").rglob("*.jpg"))
    t, c = time.perf_counter(), time.process_time()
    import lookalike

    grouping = lookalike.group([ctx.inputs / "group"], out=ctx.scratch / "people",
                               progress=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    if not grouping.groups:
        raise RuntimeError("group found nobody")
    return {"s_per_photo": wall / len(photos), "cpu_s_per_photo": cpu / len(photos)}


@bench(Metric("seconds", "s"), Metric("cpu_s", "s CPU"), quick=False)
def train_small(ctx: Context) -> dict[str, float]:
    """Python API: ``lookalike.train(DIR)`` on 12 photos of 2 people (cold cache)."""
    t, c = time.perf_counter(), time.process_time()
    import lookalike

    lookalike.train(ctx.inputs / "enrol", progress=False)
    return {"seconds": time.perf_counter() - t, "cpu_s": time.process_time() - c}


@bench(Metric("seconds", "s"), Metric("cpu_s", "s CPU"), needs="lfw7", quick=False)
def train_lfw7(ctx: Context) -> dict[str, float]:
    """Python API: ``lookalike.train(lfw7)``: 210 photos of 7 people (cold cache)."""
    t, c = time.perf_counter(), time.process_time()
    import lookalike

    lookalike.train(ctx.data / "lfw7", progress=False)
    return {"seconds": time.perf_counter() - t, "cpu_s": time.process_time() - c}


@bench(Metric("peak_mb", "MB", kind="memory"), Metric("start_s", "s"),
       Metric("request_ms", "ms"), quick=False)
def serve_memory(ctx: Context) -> dict[str, float]:
    """``lookalike serve MODEL``: time to /healthz, then 6 predicts and 3 compares over HTTP
    (median request), one verdict of 6 photos (what a server keeps after photos answered
    together: it kept the networks' side-by-side variants, +130-160 MB, until it answered them
    one at a time), and the server's peak RSS (VmHWM)."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(ctx.scratch / "serve.log", "w")  # noqa: SIM115 (closed below)
    t = time.perf_counter()
    proc = subprocess.Popen(ctx.lookalike() + ["serve", str(ctx.model), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited {proc.returncode}: "
                                       f"{(ctx.scratch / 'serve.log').read_text()[-2000:]}")
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            start = time.perf_counter() - t
            small = ctx.photos("small")
            times = []
            for p in small[:6]:
                t0 = time.perf_counter()
                r = client.post("/api/predict", files={"photo": (p.name, p.read_bytes())})
                r.raise_for_status()
                times.append(time.perf_counter() - t0)
            for a, b in list(zip(small[0::2], small[1::2], strict=False))[:3]:
                t0 = time.perf_counter()
                r = client.post("/api/compare", files=[("photo", (a.name, a.read_bytes())),
                                                       ("photo", (b.name, b.read_bytes()))])
                r.raise_for_status()
                times.append(time.perf_counter() - t0)
            client.post("/api/verdict", files=[("photo", (p.name, p.read_bytes()))
                                               for p in small[:6]]).raise_for_status()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kb = next(int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmHWM:"))
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    return {"peak_mb": peak_kb / 1024, "start_s": start,
            "request_ms": 1000 * statistics.median(times[1:])}


@bench(Metric("accuracy_pct", "%", kind="accuracy", tolerance=1.0), needs="lfw7", rounds=1)
def lfw7_accuracy(ctx: Context) -> dict[str, float]:
    """``lookalike.train(lfw7)``: accuracy on its 42 validation photos (warm cache)."""
    import lookalike

    _, report = lookalike.train(ctx.data / "lfw7", progress=False)
    return {"accuracy_pct": 100 * report.metrics["accuracy"]}


@bench(Metric("accuracy_pct", "%", kind="accuracy", tolerance=0.3), needs="lfw", rounds=1)
def lfw_accuracy(ctx: Context) -> dict[str, float]:
    """LFW 10-fold verification accuracy with SFace (``lookalike benchmark``'s figure) on the
    first 100 (--quick: 30) same and 100 different pairs of each fold (warm cache)."""
    from lookalike.measure.benchmark import run_lfw

    res = run_lfw(ctx.data / "lfw_home", embedders=["sface"], identify=False,
                  pairs_per_fold=30 if ctx.quick else 100, progress=False)
    return {"accuracy_pct": 100 * res["backends"]["sface"]["verification"]["mean_accuracy"]}


def make_inputs(root: Path, quick: bool) -> Path:
    """The photos every benchmark measures on, made from the faces packages ship."""
    import numpy as np
    from PIL import Image

    from tests.utils import astronaut, encode, grace_hopper, variants, write_people

    write_people(root / "people", per_person=4, seed=0)
    write_people(root / "enrol", per_person=6, seed=2)
    group = root / "group"
    group.mkdir(parents=True, exist_ok=True)
    for person, img in (("a", astronaut()), ("g", grace_hopper())):
        for i, v in enumerate(variants(img, 6, seed=3)):
            (group / f"{person}{i:02d}.jpg").write_bytes(encode(v, quality=90))
    small = root / "small"
    small.mkdir(parents=True, exist_ok=True)
    faces = variants(astronaut(), 5, seed=4) + variants(grace_hopper(), 4, seed=5)
    for i, v in enumerate(faces):
        (small / f"s{i:02d}.jpg").write_bytes(encode(v, quality=90))
    big = root / "big"
    big.mkdir(parents=True, exist_ok=True)
    for i in range(3 if quick else 4):
        canvas = Image.new("RGB", (4000, 3000), (90 + 20 * i, 110, 130))
        face = Image.fromarray(variants(astronaut(), 1, seed=6 + i)[0]).resize((1800, 1800))
        canvas.paste(face, (1100 + 100 * i, 600))
        noise = np.random.default_rng(i).integers(0, 12, (3000, 4000, 3), dtype=np.uint8)
        arr = np.clip(np.asarray(canvas, np.int16) + noise, 0, 255).astype(np.uint8)
        (big / f"b{i:02d}.jpg").write_bytes(encode(arr, quality=90))
    return root


def setup_side(model_path: Path, inputs: Path) -> None:
    """Train the two-person model the predict / serve benchmarks load, with these sources."""
    import lookalike

    model, _ = lookalike.train(inputs / "people", progress=False)
    model.save(model_path)
