"""Load test of ``lookalike serve``: real face photos (lfw7) POSTed to /api/predict.

Starts the server as its own process on 127.0.0.1 (loopback only), warms it up, then measures
  * service time: requests one at a time (the latency of one single-face photo);
  * load: N requests at concurrency C (default 10,000 at 16): throughput, p50 / p99 latency,
    status counts (any 5xx is a failure), and the server's RSS before, during (peak) and after.
The client runs on the same machine and shares its cores with the server.

    .venv/bin/python bench/bench_web.py [--requests 10000] [--concurrency 16] [--model M]

Writes bench/results/web.json. Needs lookalike[web] and ../shared/data/lfw7 (or $LOOKALIKE_DATA).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import lfw7, lookalike_cli, machine, save  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(latencies: list[float], wall: float) -> dict:
    ms = 1000 * np.asarray(latencies, np.float64)
    return {"requests": len(ms), "seconds": round(wall, 2),
            "throughput_rps": round(len(ms) / wall, 1) if wall else None,
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1), "mean_ms": round(float(ms.mean()), 1)}


async def load(base: str, photos: list[tuple[str, bytes]], n: int, concurrency: int,
               pid: int, label: str) -> dict:
    import httpx

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    faces: Counter[int] = Counter()
    peak = [rss_mb(pid)]
    next_i = [0]
    done = [0]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        while next_i[0] < n:
            i = next_i[0]
            next_i[0] += 1
            name, data = photos[i % len(photos)]
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{base}/api/predict?top=3",
                                      files={"photo": (name, data, "image/jpeg")})
                status = str(r.status_code)
                if r.status_code == 200:
                    faces[len(r.json()["faces"])] += 1
            except httpx.HTTPError as err:
                status = type(err).__name__
            latencies.append(time.perf_counter() - t0)
            statuses[status] += 1
            done[0] += 1

    async def sample() -> None:
        last = time.perf_counter()
        while done[0] < n:
            await asyncio.sleep(1.0)
            peak[0] = max(peak[0], rss_mb(pid))
            if time.perf_counter() - last > 15:
                last = time.perf_counter()
                print(f"  {label}: {done[0]}/{n}", file=sys.stderr, flush=True)

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        t0 = time.perf_counter()
        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        sampler.cancel()
    out = stats(latencies, wall)
    out |= {"concurrency": concurrency, "status": dict(statuses),
            "errors_5xx": sum(v for k, v in statuses.items() if k.startswith("5")),
            "transport_errors": sum(v for k, v in statuses.items() if not k.isdigit()),
            "faces_per_answer": {str(k): v for k, v in sorted(faces.items())},
            "peak_rss_mb": round(peak[0], 1)}
    return out


def breakdown(model: str, photos: list[tuple[str, bytes]]) -> dict:
    """Where one request's CPU time goes, in this process without HTTP: decode, detect,
    embed, and the whole ``predict`` (medians over the photos)."""
    from lookalike.images import decode_image
    from lookalike.model import load

    rec = load(model)
    pipe = rec.pipeline
    pipe.cache = None
    rec.predict(photos[0][1], all_faces=True)  # load the networks
    times: dict[str, list[float]] = {"decode": [], "detect": [], "embed": [], "predict": []}
    for _, data in photos:
        t0 = time.perf_counter()
        rgb = decode_image(data, max_side=1600)
        t1 = time.perf_counter()
        faces = pipe.detector.detect(rgb)
        t2 = time.perf_counter()
        pipe.embedder.embed(rgb, faces[:1])
        t3 = time.perf_counter()
        rec.predict(data, all_faces=True)
        t4 = time.perf_counter()
        for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            times[k].append(v)
    out = {f"{k}_p50_ms": round(1000 * float(np.median(v)), 1) for k, v in times.items()}
    out |= {"photos": len(photos), "embed_is_one_face": True,
            "load_average": [round(v, 2) for v in os.getloadavg()]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--sequential", type=int, default=300,
                    help="requests sent one at a time for the service time")
    ap.add_argument("--model", help="model file (default: trained now on lfw7/train)")
    ap.add_argument("--name", default="web", help="results file bench/results/NAME.json")
    ap.add_argument("--breakdown-only", action="store_true",
                    help="only time decode / detect / embed / predict in-process (no server)")
    args = ap.parse_args()

    data = lfw7()
    paths = sorted(data.glob("*/*/*.jpg"))
    photos = [(p.name, p.read_bytes()) for p in paths]
    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    model = args.model
    if not model:
        model = str(tmp / "lfw7.lookalike")
        subprocess.run([*lookalike_cli(), "train", str(data), "-o", model, "-q"], check=True,
                       stdout=subprocess.DEVNULL)
    if args.breakdown_only:
        b = breakdown(model, photos[::3])
        print(b)
        save(args.name, {"machine": info, "in_process": b})
        return 0
    port = free_port()
    env = dict(os.environ, LOOKALIKE_CACHE_DIR=str(tmp / "cache"), LOOKALIKE_PROGRESS="0")
    server = subprocess.Popen([*lookalike_cli(), "serve", model, "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print(server.stderr.read() if server.stderr else "", file=sys.stderr)
                sys.exit("bench: the server did not start")
            time.sleep(0.2)
        rss_started = rss_mb(server.pid)
        asyncio.run(load(base, photos, 64, 1, server.pid, "warm-up"))
        rss_before = rss_mb(server.pid)
        print(f"server pid {server.pid}: RSS {rss_started:.0f} MB after start, "
              f"{rss_before:.0f} MB after warm-up", flush=True)
        seq = asyncio.run(load(base, photos, args.sequential, 1, server.pid, "sequential"))
        print(f"one at a time: {seq['requests']} requests, p50 {seq['p50_ms']} ms, "
              f"p99 {seq['p99_ms']} ms, {seq['throughput_rps']} req/s", flush=True)
        rss_mid = rss_mb(server.pid)
        res = asyncio.run(load(base, photos, args.requests, args.concurrency, server.pid,
                               "load"))
        rss_after = rss_mb(server.pid)
        growth = (rss_after - rss_mid) / rss_mid
        print(f"concurrency {args.concurrency}: {res['requests']} requests in "
              f"{res['seconds']} s = {res['throughput_rps']} req/s; p50 {res['p50_ms']} ms, "
              f"p99 {res['p99_ms']} ms; status {res['status']}; 5xx {res['errors_5xx']}")
        print(f"RSS {rss_mid:.1f} MB before the load, {rss_after:.1f} MB after "
              f"({100 * growth:+.1f} %), peak {res['peak_rss_mb']} MB")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    result = {"machine": info, "photos": len(photos), "photo_source": "lfw7 (train + validation)",
              "rss_mb": {"started": round(rss_started, 1), "after_warm_up": round(rss_before, 1),
                         "before_load": round(rss_mid, 1), "after_load": round(rss_after, 1),
                         "growth_pct": round(100 * growth, 2)},
              "sequential": seq, "load": res,
              "targets": {"zero_5xx": res["errors_5xx"] == 0,
                          "rss_growth_under_10pct": growth < 0.10,
                          "p50_sequential_le_60ms": seq["p50_ms"] <= 60,
                          "p50_under_load_le_60ms": res["p50_ms"] <= 60}}
    save(args.name, result)
    return 0 if res["errors_5xx"] == 0 and res["transport_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
