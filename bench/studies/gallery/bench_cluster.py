"""Enrolment on a Dask cluster against the in-process path, and the commit ceiling.

    python -m bench.studies.gallery.bench_cluster enrol --photos 240 --rounds 3
        # plain / local:1 / local:2
    python -m bench.studies.gallery.bench_cluster commit --rows 5000  # embedded + PostgreSQL rows/s

``enrol`` enrols the same LFW photos (the first ``--photos`` of lfw_funneled in name order, so
people with one photo and people with several, as a real folder has) into a fresh gallery with
the embedding cache off, once per mode per round, the modes interleaved (rotated each round)
so that the other jobs on this shared machine load them alike:

* ``plain-1``: the in-process path on one process, OpenCV on one thread (like one worker);
  it loads its models in every run, as a ``gallery add`` command does;
* ``plain-1-warm``: the same with the models kept loaded between runs (as a cluster's workers
  keep theirs), so cluster-1 against it is the cluster path's steady-state overhead;
* ``plain-2``: the in-process path as ``gallery add`` runs it by default here (a pool of 2);
* ``cluster-1`` / ``cluster-2``: ``Gallery.add_photos(cluster=client)`` on a local Dask cluster
  of 1 / 2 worker processes (1 thread each) made as ``--cluster local:N`` makes it
  (``lookalike.face.cluster.connect``), started before the rounds and warmed up (models loaded), so
  the rows are steady-state throughput; the start-up is measured on its own.

CPU seconds are summed over the client and its workers (``getrusage`` in each), so the
cluster path's overhead shows both as wall time and as CPU per photo; the client's own share
(with a local cluster: also its scheduler and nannies) is reported apart, since with 2 workers
on 2 cores it is taken from the workers. ``LOOKALIKE_BENCH_SRC=/other/checkout/src`` runs
another version of the code (a before/after in one session).

``commit`` measures what the client can commit: ``store.add_batch`` of 64 rows (a 128-d vector
and a 3 KB thumbnail each) into the embedded gallery and into PostgreSQL (pgserver).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# LOOKALIKE_BENCH_SRC: another checkout's src/ (the code before a change, in the same session)
if os.environ.get("LOOKALIKE_BENCH_SRC"):  # measure other sources than those installed
    sys.path.insert(0, os.environ["LOOKALIKE_BENCH_SRC"])

from bench.common import lfw_funneled, machine, save  # noqa: E402


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def photos(n: int) -> list[tuple[str, Path]]:
    home = lfw_funneled()
    out: list[tuple[str, Path]] = []
    for person in sorted(p for p in home.iterdir() if p.is_dir()):
        for f in sorted(person.glob("*.jpg")):
            out.append((person.name, f))
            if len(out) == n:
                return out
    return out


_BURN = ("import time\nt = time.process_time()\nx = 0\n"
         "while time.process_time() - t < {s}:\n    x += 1\n")


def parallel_capacity(seconds: float = 1.5) -> dict:
    """What this machine gives two processes now: wall time of 2 processes burning
    ``seconds`` of CPU each, against 1 (≈ 1: no second core to be had; 2 free cores: ≈ 2)."""
    import subprocess

    def wall(n: int) -> float:
        t = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", _BURN.format(s=seconds)])
                 for _ in range(n)]
        for p in procs:
            p.wait()
        return time.perf_counter() - t

    one, two = wall(1), wall(2)
    return {"one_s": round(one, 2), "two_s": round(two, 2),
            "two_processes_speedup": round(2 * one / two, 3)}


_WARM: dict = {}


@contextlib.contextmanager
def warm_models(on: bool):
    """The in-process path with its models loaded once and kept (``plain-1-warm``): every
    gallery opened gets the same face pipeline (enrolment in-process uses the gallery's)."""
    import lookalike.face.pipeline as fp

    if not on:
        yield
        return
    real = fp.pipeline_for

    def warm(embedder: dict, crops: bool = False):
        key = (embedder["name"], embedder["version"], crops)
        if key not in _WARM:
            _WARM[key] = real(embedder, crops)
        return _WARM[key]

    fp.pipeline_for = warm
    try:
        yield
    finally:
        fp.pipeline_for = real


def cmd_enrol(args) -> None:
    import cv2

    from lookalike.face.cluster import connect
    from lookalike.models.gallery import Gallery

    os.environ["LOOKALIKE_NO_CACHE"] = "1"
    os.environ["LOOKALIKE_PROGRESS"] = "0"
    items = photos(args.photos)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    info = machine()
    print(f"# {len(items)} photos; load {os.getloadavg()}", flush=True)

    # The clusters as `--cluster local:N` makes them (lookalike.face.cluster.connect: its Dask
    # settings), kept open across the rounds.
    stack = contextlib.ExitStack()
    t = time.perf_counter()
    k1 = stack.enter_context(connect("local:1"))
    started_1 = time.perf_counter() - t
    t = time.perf_counter()
    k2 = stack.enter_context(connect("local:2"))
    started_2 = time.perf_counter() - t

    def worker_cpu(client) -> float:
        return sum(client.run(cpu_self).values())

    warm = items[:16]  # several batches: every worker loads its models before the rounds
    for name, client in (("cluster-1", k1), ("cluster-2", k2)):
        t = time.perf_counter()
        g = Gallery.create(tmp / f"warm-{name}")
        g.add_photos(warm, progress=False, cluster=client)
        g.close()
        start = started_1 if name == "cluster-1" else started_2
        print(f"# {name}: cluster start + first photos (model load) "
              f"{start + time.perf_counter() - t:.1f} s", flush=True)
    if "plain-1-warm" in args.modes.split(","):
        g = Gallery.create(tmp / "warm-plain")
        with warm_models(True):
            g.add_photos(warm, workers=1, progress=False)
        g.close()

    def run(mode: str, r: int) -> dict:
        path = tmp / f"{mode}-{r}"
        g = Gallery.create(path)
        client = {"cluster-1": k1, "cluster-2": k2}.get(mode)
        w0 = worker_cpu(client) if client else 0.0
        s0, ch0 = cpu_self(), cpu_children()
        threads = cv2.getNumThreads()
        if mode.startswith("plain-1"):
            cv2.setNumThreads(1)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            if client is None:
                with warm_models(mode == "plain-1-warm"):
                    rep = g.add_photos(items, workers=1 if mode.startswith("plain-1") else 2,
                                       progress=False)
            else:
                rep = g.add_photos(items, progress=False, cluster=client)
        finally:
            cv2.setNumThreads(threads)
        wall = time.perf_counter() - t0
        client_cpu = cpu_self() - s0  # with a LocalCluster: also its scheduler and nannies
        workers_cpu = cpu_children() - ch0 + ((worker_cpu(client) - w0) if client else 0.0)
        cpu = client_cpu + workers_cpu
        g.close()
        shutil.rmtree(path)
        row = {"mode": mode, "round": r, "photos": rep.added + len(rep.skipped),
               "enrolled": rep.added, "wall_s": round(wall, 2),
               "photos_per_s": round((rep.added + len(rep.skipped)) / wall, 2),
               "cpu_s": round(cpu, 2),
               "cpu_ms_per_photo": round(1e3 * cpu / (rep.added + len(rep.skipped)), 1),
               "client_cpu_ms_per_photo": round(1e3 * client_cpu / (rep.added
                                                                    + len(rep.skipped)), 2),
               "workers_cpu_ms_per_photo": round(1e3 * workers_cpu / (rep.added
                                                                      + len(rep.skipped)), 2),
               "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}
        print(json.dumps(row), flush=True)
        return row

    modes = args.modes.split(",")
    rows = []
    capacity = [parallel_capacity()]
    print(f"# 2 CPU-burners vs 1: {capacity[0]}", flush=True)
    for r in range(args.rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for mode in order:
            rows.append(run(mode, r))
    capacity.append(parallel_capacity())
    print(f"# 2 CPU-burners vs 1: {capacity[1]}", flush=True)
    stack.close()
    shutil.rmtree(tmp, ignore_errors=True)

    summary = {}
    for mode in modes:
        rs = [x for x in rows if x["mode"] == mode]
        summary[mode] = {"photos_per_s_median": float(np.median([x["photos_per_s"] for x in rs])),
                         "cpu_ms_per_photo_median": float(np.median([x["cpu_ms_per_photo"]
                                                                     for x in rs])),
                         "client_cpu_ms_per_photo_median": float(np.median(
                             [x["client_cpu_ms_per_photo"] for x in rs]))}
    # per round ratios (same round = the same load), then their median
    def ratio(a: str, b: str, key: str = "photos_per_s") -> float | None:
        if a not in modes or b not in modes:
            return None
        vals = []
        for r in range(args.rounds):
            ra = next(x for x in rows if x["mode"] == a and x["round"] == r)
            rb = next(x for x in rows if x["mode"] == b and x["round"] == r)
            vals.append(ra[key] / rb[key])
        return round(float(np.median(vals)), 3)

    summary["speedup_cluster2_over_cluster1"] = ratio("cluster-2", "cluster-1")
    summary["cluster1_over_plain1"] = ratio("cluster-1", "plain-1")
    summary["cluster1_over_plain1_warm"] = ratio("cluster-1", "plain-1-warm")
    summary["cluster1_cpu_over_plain1_warm_cpu"] = ratio("cluster-1", "plain-1-warm",
                                                         "cpu_ms_per_photo")
    summary["cluster1_cpu_over_plain1_cpu"] = ratio("cluster-1", "plain-1", "cpu_ms_per_photo")
    summary["cluster2_over_plain2"] = ratio("cluster-2", "plain-2")
    summary["machine_two_process_speedup"] = [c["two_processes_speedup"] for c in capacity]
    summary["cluster2_over_cluster1_cpu_per_photo"] = ratio("cluster-2", "cluster-1",
                                                           "cpu_ms_per_photo")
    summary["startup_s"] = {"local:1": round(started_1, 2), "local:2": round(started_2, 2)}
    print(json.dumps(summary, indent=1), flush=True)
    save(args.name, {"machine": info, "photos": len(items), "rounds": rows, "summary": summary,
                     "load_average_at_end": os.getloadavg()})


def cmd_commit(args) -> None:
    from lookalike.models.gallery import Gallery
    from lookalike.models.gallery.store_local import PhotoRow
    from lookalike.models.gallery.store_pg import start_local_server

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 128)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    thumb = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    rows = [PhotoRow(f"person {i // 3}", f"d{i:08d}", f"p/{i}.jpg", 0, 1, False, X[i], thumb)
            for i in range(args.rows)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-commit-"))
    out = {"machine": machine(), "rows": args.rows, "batch": args.batch}
    # The client's own work per photo before anything is sent: read + content hash, and an
    # embedding-cache miss (a lookup) and put, as lookalike.face.cluster.analyse does.
    from lookalike.cache import ArrayCache
    from lookalike.photos.images import content_hash, read_bytes

    files = [f for _, f in photos(args.photos)]
    t = time.perf_counter()
    digests = [content_hash(read_bytes(f)) for f in files]
    hashing = time.perf_counter() - t
    cache = ArrayCache(tmp / "cache")
    arrays = {"embeddings": X[:1], "thumb_data": np.frombuffer(thumb, np.uint8)}
    t = time.perf_counter()
    for d in digests:
        cache.get(d)
        cache.put(d, arrays)
    caching = time.perf_counter() - t
    t = time.perf_counter()
    for s in range(0, len(digests), 8):  # as the cluster client does: one transaction a batch
        batch = digests[s:s + 8]
        for d in batch:
            cache.get("b" + d)
        cache.put_many([("b" + d, arrays) for d in batch])
    batched = time.perf_counter() - t
    out["client_per_photo"] = {"photos": len(files),
                               "read_and_hash_per_s": round(len(files) / hashing),
                               "cache_miss_and_put_per_s": round(len(files) / caching),
                               "cache_miss_and_put_batched_8_per_s": round(len(files) / batched),
                               "load": round(os.getloadavg()[0], 2)}
    print(json.dumps(out["client_per_photo"]), flush=True)
    srv, uri = start_local_server(tmp / "pg")
    try:
        for name, spec in (("embedded", str(tmp / "g")), ("postgresql", f"{uri}#benchcommit"),
                           ("postgresql_no_hnsw", f"{uri}#benchnoindex")):
            g = Gallery.create(spec)
            if name == "postgresql_no_hnsw":  # rows only: what the HNSW upkeep costs
                g.store.conn.execute(f"DROP INDEX {g.store.schema}.photos_hnsw")
            load0 = os.getloadavg()[0]
            t = time.perf_counter()
            for s in range(0, len(rows), args.batch):
                g.store.add_batch(rows[s:s + args.batch], [])
            wall = time.perf_counter() - t
            out[name] = {"rows_per_s": round(args.rows / wall, 1), "wall_s": round(wall, 2),
                         "load": round(load0, 2)}
            print(json.dumps({name: out[name]}), flush=True)
            if name.startswith("postgresql"):
                g.store.drop()
            g.close()
    finally:
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    save(args.name, out)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("enrol")
    e.add_argument("--photos", type=int, default=240)
    e.add_argument("--rounds", type=int, default=3)
    e.add_argument("--modes", default="plain-1,cluster-1,cluster-2,plain-2")
    e.add_argument("--name", default="cluster_enrol")
    c = sub.add_parser("commit")
    c.add_argument("--rows", type=int, default=5000)
    c.add_argument("--batch", type=int, default=64)
    c.add_argument("--photos", type=int, default=2000, help="LFW photos read and hashed")
    c.add_argument("--name", default="cluster_commit")
    args = p.parse_args()
    {"enrol": cmd_enrol, "commit": cmd_commit}[args.cmd](args)


if __name__ == "__main__":
    main()
