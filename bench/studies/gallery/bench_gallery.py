"""Gallery benchmarks: vector indexes at scale, pgvector, and LFW as a gallery.

    python -m bench.studies.gallery.bench_gallery compare --n 200000
        # FAISS / hnswlib / usearch / exact
    python -m bench.studies.gallery.bench_gallery scale --n 1000000
        # the gallery's own index at 1 M
    python -m bench.studies.gallery.bench_gallery crossover  # exact vs ANN latency by size
    python -m bench.studies.gallery.bench_gallery pg --n 100000  # pgvector (HNSW) via pgserver
    python -m bench.studies.gallery.bench_gallery gallery --n 200000  # end to end through Gallery
    python -m bench.studies.gallery.bench_gallery lfw [--people N] [--workers 2]
        # LFW enrol + rank-1
    python -m bench.studies.gallery.bench_gallery big --n 10000000 [--codec sq8]
        # streamed, 10 M scale

Synthetic vectors are shaped like face embeddings: identities are unit centres drawn from an
anisotropic Gaussian (a decaying spectrum, as real embeddings use some directions much more
than others); each identity has several photos whose cosine to their centre is about 0.8
(so two photos of one person have cosine ≈ 0.6, as SFace gives for the same person). Queries
are fresh photos of enrolled identities. Recall@10 is measured against exact search.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """Current resident memory (MB), from /proc."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def synthetic(n: int, dim: int = 128, per_person: int = 10, n_queries: int = 1000,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` gallery vectors (n / per_person identities) and ``n_queries`` query vectors."""
    rng = np.random.default_rng(seed)
    people = max(1, n // per_person)
    spectrum = (1.0 / np.sqrt(np.arange(1, dim + 1))).astype(np.float32)
    centres = rng.standard_normal((people, dim), dtype=np.float32) * spectrum
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sigma = 0.75 / np.sqrt(dim)  # cos(photo, centre) ≈ 1 / sqrt(1 + 0.75²) = 0.8
    out = np.empty((n, dim), np.float32)
    step = 200_000
    for s in range(0, n, step):
        e = min(n, s + step)
        idx = np.arange(s, e) % people
        v = centres[idx] + rng.standard_normal((e - s, dim), dtype=np.float32) * sigma
        out[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
    qi = rng.integers(0, people, n_queries)
    q = centres[qi] + rng.standard_normal((n_queries, dim), dtype=np.float32) * sigma
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return out, q.astype(np.float32)


def exact_topk(X: np.ndarray, Q: np.ndarray, k: int = 10) -> np.ndarray:
    out = np.empty((len(Q), k), np.int64)
    for s in range(0, len(Q), 100):
        S = Q[s:s + 100] @ X.T
        part = np.argpartition(-S, k, axis=1)[:, :k]
        rows = np.take_along_axis(S, part, axis=1)
        out[s:s + 100] = np.take_along_axis(part, np.argsort(-rows, axis=1), axis=1)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth,
                                                                         strict=True)]))


def latencies(search, Q: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[float]]:
    for q in Q[:20]:  # warm-up
        search(q, k)
    found, lat = [], []
    for q in Q:
        t = time.perf_counter()
        ids = search(q, k)
        lat.append((time.perf_counter() - t) * 1e3)
        found.append(np.asarray(ids, np.int64)[:k])
    return np.stack(found), lat


def summarise(name: str, build_s: float, mem_mb: float, lat: list[float], rec: float,
              **extra) -> dict:
    d = {"index": name, "build_s": round(build_s, 1), "memory_mb": round(mem_mb),
         "p50_ms": round(float(np.percentile(lat, 50)), 3),
         "p99_ms": round(float(np.percentile(lat, 99)), 3), "recall@10": round(rec, 4)}
    d.update(extra)
    print(json.dumps(d), flush=True)
    return d


# -- the candidate indexes -----------------------------------------------------------------

def bench_exact(X, Q, truth):
    lat_found = latencies(lambda q, k: _exact1(X, q, k), Q[:200])
    return summarise("exact numpy", 0.0, X.nbytes / 1e6, lat_found[1],
                     recall(lat_found[0], truth[:200]))


def _exact1(X, q, k):
    # as the gallery does it: row blocks that keep BLAS on one thread
    s = np.concatenate([X[b:b + 4096] @ q for b in range(0, len(X), 4096)])
    part = np.argpartition(-s, k)[:k]
    return part[np.argsort(-s[part])]


def bench_faiss_ivf(X, Q, truth, nprobes=(8, 16, 32, 64), label="faiss IVF{nlist},Flat",
                    fields=None):
    """Build the gallery's IVF index on X and measure each nprobe; ``fields()`` adds columns
    to each row (default: FAISS's thread count)."""
    import faiss

    from lookalike.models.gallery.ann import IVFIndex

    m0 = rss_mb()
    t = time.perf_counter()
    index = IVFIndex.build(X, np.arange(len(X), dtype=np.int64))
    build = time.perf_counter() - t
    mem = rss_mb() - m0
    out = []
    for nprobe in nprobes:
        index.nprobe = nprobe
        found, lat = latencies(lambda q, k: index.search(q[None], k)[1][0], Q)
        extra = fields() if fields else {"threads": faiss.omp_get_max_threads()}
        out.append(summarise(f"{label.format(nlist=index.nlist)} nprobe={nprobe}", build, mem,
                             lat, recall(found, truth), **extra))
    return out


def bench_faiss_hnsw(X, Q, truth, M=32, efc=80, efs=(32, 64, 128)):
    import faiss

    m0 = rss_mb()
    t = time.perf_counter()
    index = faiss.IndexHNSWFlat(X.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = efc
    index.add(X)
    build = time.perf_counter() - t
    mem = rss_mb() - m0
    out = []
    for ef in efs:
        index.hnsw.efSearch = ef
        found, lat = latencies(lambda q, k: index.search(q[None], k)[1][0], Q)
        out.append(summarise(f"faiss HNSW{M} ef={ef}", build, mem, lat, recall(found, truth)))
    return out


def bench_hnswlib(X, Q, truth, M=32, efc=80, efs=(32, 64, 128)):
    import hnswlib

    m0 = rss_mb()
    t = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=X.shape[1])
    index.init_index(max_elements=len(X), M=M, ef_construction=efc)
    index.add_items(X, np.arange(len(X)), num_threads=os.cpu_count())
    build = time.perf_counter() - t
    mem = rss_mb() - m0
    index.set_num_threads(1)
    out = []
    for ef in efs:
        index.set_ef(ef)
        found, lat = latencies(lambda q, k: index.knn_query(q, k)[0][0], Q)
        out.append(summarise(f"hnswlib M={M} ef={ef}", build, mem, lat, recall(found, truth)))
    return out


def bench_usearch(X, Q, truth, M=32, efc=80, efs=(32, 64, 128)):
    from usearch.index import Index

    m0 = rss_mb()
    t = time.perf_counter()
    index = Index(ndim=X.shape[1], metric="ip", dtype="f32", connectivity=M,
                  expansion_add=efc)
    index.add(np.arange(len(X)), X, threads=os.cpu_count())
    build = time.perf_counter() - t
    mem = rss_mb() - m0
    out = []
    for ef in efs:
        index.expansion_search = ef
        found, lat = latencies(lambda q, k: index.search(q, k).keys, Q)
        out.append(summarise(f"usearch M={M} ef={ef}", build, mem, lat, recall(found, truth)))
    return out


def cmd_compare(args) -> None:
    X, Q = synthetic(args.n, n_queries=args.queries)
    truth = exact_topk(X, Q)
    print(f"# n={args.n} dim=128 queries={len(Q)} cores={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f}", flush=True)
    rows = [bench_exact(X, Q, truth)]
    for name in args.libs.split(","):
        gc.collect()
        fn = {"faiss-ivf": bench_faiss_ivf, "faiss-hnsw": bench_faiss_hnsw,
              "hnswlib": bench_hnswlib, "usearch": bench_usearch}[name]
        r = fn(X, Q, truth)
        rows += r if isinstance(r, list) else [r]
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


def cmd_scale(args) -> None:
    """The gallery's own index (what `lookalike gallery` builds past the crossover)."""
    t = time.perf_counter()
    X, Q = synthetic(args.n, n_queries=args.queries)
    print(f"# n={args.n} generated in {time.perf_counter() - t:.1f} s; load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    truth = exact_topk(X, Q)
    rows = bench_faiss_ivf(X, Q, truth, [int(v) for v in args.nprobe.split(",")],
                           label="gallery IVF{nlist}",
                           fields=lambda: {"n": args.n, "peak_rss_mb": round(peak_mb())})
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


def cmd_crossover(args) -> None:
    """Exact (numpy) vs the IVF index, single-query latency, by gallery size."""
    from lookalike.models.gallery.ann import IVFIndex

    for n in [int(v) for v in args.sizes.split(",")]:
        X, Q = synthetic(n, n_queries=200)
        _, lat_e = latencies(lambda q, k, X=X: _exact1(X, q, k), Q)
        index = IVFIndex.build(X, np.arange(n, dtype=np.int64))
        _, lat_a = latencies(lambda q, k, ix=index: ix.search(q[None], k)[1][0], Q)
        print(json.dumps({"n": n, "exact_p50_ms": round(float(np.median(lat_e)), 3),
                          "ivf_p50_ms": round(float(np.median(lat_a)), 3),
                          "nlist": index.nlist}), flush=True)


def cmd_gallery(args) -> None:
    """End to end through the embedded gallery: SQLite rows, index build, reopen (load +
    checksum), and a person-ranked search (`Gallery.face_results`) per query."""
    import shutil

    from lookalike.models.gallery import Gallery
    from lookalike.models.gallery.store_local import PhotoRow

    X, Q = synthetic(args.n, n_queries=args.queries)
    out = Path(args.gallery)
    if out.exists():
        shutil.rmtree(out)
    g = Gallery.create(out)
    t = time.perf_counter()
    for s in range(0, len(X), 10_000):
        g.store.add_batch([PhotoRow(f"person {i // 10}", f"d{i}", f"s/{i}.jpg", 0, 1, False,
                                    X[i], None) for i in range(s, min(len(X), s + 10_000))], [])
    insert = time.perf_counter() - t
    t = time.perf_counter()
    kind, _ = g.store.index()
    build = time.perf_counter() - t
    g.close()
    t = time.perf_counter()
    g = Gallery.open(out)
    g.store.index()
    reopen = time.perf_counter() - t
    lat = []
    for q in Q:
        t = time.perf_counter()
        g.face_results([None], q[None], top=10)
        lat.append((time.perf_counter() - t) * 1e3)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(json.dumps({"n": args.n, "index": kind, "insert_s": round(insert, 1),
                      "index_build_s": round(build, 1), "reopen_s": round(reopen, 2),
                      "search_p50_ms": round(float(np.percentile(lat, 50)), 2),
                      "search_p99_ms": round(float(np.percentile(lat, 99)), 2),
                      "disk_mb": round(size), "load": round(os.getloadavg()[0], 1)}), flush=True)


def cmd_pg(args) -> None:
    from lookalike.models.gallery.store_pg import PgStore, start_local_server

    srv, uri = start_local_server(Path(args.pgdata))
    try:
        X, Q = synthetic(args.n, n_queries=args.queries)
        truth = exact_topk(X, Q)
        store = PgStore(PgStore._connect(uri, uri), uri, "bench")
        store.drop()
        store.create(dim=128, embedder="synthetic", embedder_version="0", threshold=0.36,
                     index=False)
        t = time.perf_counter()
        store.bulk_vectors(X)
        load = time.perf_counter() - t
        t = time.perf_counter()
        store.build_ann(m=16, ef_construction=64)
        build = time.perf_counter() - t
        size = store.size_mb()
        for ef in [int(v) for v in args.ef.split(",")]:
            store.ef_search = ef
            found, lat = latencies(lambda q, k: store.nearest_photo_ids(q, k), Q)
            # photo ids are 1-based in insertion order
            summarise(f"pgvector HNSW m=16 ef_search={ef}", build, size, lat,
                      recall(found - 1, truth), n=args.n, load_s=round(load, 1))
        store.drop()
        store.close()
    finally:
        srv.cleanup()


def cmd_lfw(args) -> None:
    from lookalike.models.gallery import Gallery

    home = Path(args.data) / "lfw_home" / "lfw_funneled"
    if not home.is_dir():
        sys.exit(f"LFW not found at {home}")
    people = sorted(p for p in home.iterdir() if p.is_dir())
    if args.people:
        people = people[: args.people]
    enrol = [(p.name, sorted(p.glob("*.jpg"))[0]) for p in people]
    probes = [(p.name, f) for p in people for f in sorted(p.glob("*.jpg"))[1:]]
    out = Path(args.gallery)
    if out.exists() and not args.resume:
        import shutil

        shutil.rmtree(out)
    g = Gallery.open(out) if out.exists() else Gallery.create(out)
    if not args.cache:
        os.environ["LOOKALIKE_NO_CACHE"] = "1"  # time real detection + embedding
    t = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    me0 = resource.getrusage(resource.RUSAGE_SELF)
    load0 = os.getloadavg()[0]
    rep = g.add_photos(enrol, workers=args.workers, progress=True)
    secs = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
           + me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime)
    print(json.dumps({"enrolled_photos": rep.added, "skipped": len(rep.skipped),
                      "already": rep.already, "seconds": round(secs, 1),
                      "photos_per_s": round(rep.added / max(secs, 1e-9), 2),
                      "cpu_s": round(cpu, 1),
                      # what 2 otherwise idle cores would give: photos per CPU-second × 2
                      "photos_per_s_on_2_free_cores": round(2 * rep.added / max(cpu, 1e-9), 1),
                      "workers": args.workers, "load_before": round(load0, 1),
                      "load_after": round(os.getloadavg()[0], 1)}), flush=True)
    if args.probes:
        probes = probes[: args.probes]
    if not args.cache:
        os.environ.pop("LOOKALIKE_NO_CACHE", None)  # probes may come from the shared cache
    from lookalike.face.many import analyse, jobs_for

    right = n = unknown = 0
    t = time.perf_counter()
    for a in analyse(jobs_for(f for _, f in probes), g.pipeline, workers=args.workers,
                     progress=True, desc="probes"):
        if a.faces is None or not len(a.faces.embeddings):
            continue
        fr = g.face_results([None], a.faces.embeddings[:1], top=5)[0]  # the most prominent
        n += 1
        right += fr.top.person == probes[a.task][0]
        unknown += fr.unknown
    print(json.dumps({"probes": n, "rank1": round(right / max(n, 1), 4),
                      "unknown_rate": round(unknown / max(n, 1), 4),
                      "people_in_gallery": len(g.people()),
                      "search_s": round(time.perf_counter() - t, 1)}), flush=True)


def synthetic_chunks(n: int, dim: int = 128, per_person: int = 10, n_queries: int = 200,
                     seed: int = 0, step: int = 500_000):
    """:func:`synthetic`'s distribution made chunk by chunk (10 M vectors are 5.1 GB: never
    all in memory): (queries, iterator of (first id, chunk))."""
    rng = np.random.default_rng(seed)
    people = max(1, n // per_person)
    spectrum = (1.0 / np.sqrt(np.arange(1, dim + 1))).astype(np.float32)
    centres = rng.standard_normal((people, dim), dtype=np.float32) * spectrum
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sigma = 0.75 / np.sqrt(dim)
    qi = rng.integers(0, people, n_queries)
    q = centres[qi] + rng.standard_normal((n_queries, dim), dtype=np.float32) * sigma
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)

    def chunks():
        for s in range(0, n, step):
            e = min(n, s + step)
            idx = np.arange(s, e) % people
            v = centres[idx] + rng.standard_normal((e - s, dim), dtype=np.float32) * sigma
            yield s, (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    return q, chunks()


def cmd_big(args) -> None:
    """The gallery's index at up to 10 M vectors, streamed: trained on the first chunk, filled
    chunk by chunk, exact top-10 kept as a running merge per chunk (ground truth without the
    whole matrix). Reports build time, index bytes and RSS, p50/p99 and recall@10 by nprobe."""
    from lookalike.models.gallery.ann import IVFIndex, choose_nlist, choose_nprobe

    t0 = time.perf_counter()
    Q, chunks = synthetic_chunks(args.n, n_queries=args.queries, step=args.step)
    k = 10
    best_s = np.full((len(Q), k), -np.inf, np.float32)
    best_i = np.full((len(Q), k), -1, np.int64)
    index = None
    nlist = args.nlist or choose_nlist(args.n)
    gen = build = truth_s = 0.0
    m0 = rss_mb()
    t = time.perf_counter()
    for first, X in chunks:
        gen += time.perf_counter() - t
        t = time.perf_counter()
        S = Q @ X.T  # exact scores for this chunk, merged into the running top-10
        part = np.argpartition(-S, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(S, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + first], axis=1)
        top = np.argsort(-cand_s, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, top, axis=1)
        best_i = np.take_along_axis(cand_i, top, axis=1)
        truth_s += time.perf_counter() - t
        t = time.perf_counter()
        if index is None:
            rng = np.random.default_rng(0)
            sample = X[np.sort(rng.choice(len(X), min(len(X), 50 * nlist), replace=False))]
            index = IVFIndex.trained(sample, args.n, nlist=nlist, codec=args.codec)
        index.add(X, np.arange(first, first + len(X), dtype=np.int64))
        build += time.perf_counter() - t
        print(f"# {first + len(X):,} added; build {build:.0f} s, load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        t = time.perf_counter()
    assert index is not None
    codes_mb = index.ntotal * index.index.code_size / 1e6
    rows = []
    for nprobe in [int(v) for v in args.nprobe.split(",")] or [choose_nprobe(nlist)]:
        index.nprobe = nprobe
        found, lat = latencies(lambda q, kk: index.search(q[None], kk)[1][0], Q)
        rows.append(summarise(f"gallery IVF{nlist},{index.codec} nprobe={nprobe}", build,
                              rss_mb() - m0, lat, recall(found, best_i), n=args.n,
                              codes_mb=round(codes_mb), peak_rss_mb=round(peak_mb()),
                              default_nprobe=choose_nprobe(nlist),
                              load=round(os.getloadavg()[0], 1)))
    print(f"# generate {gen:.0f} s, exact top-10 {truth_s:.0f} s, total "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--n", type=int, default=200_000)
    c.add_argument("--queries", type=int, default=1000)
    c.add_argument("--libs", default="faiss-ivf,faiss-hnsw,hnswlib,usearch")
    c.add_argument("--out")
    s = sub.add_parser("scale")
    s.add_argument("--n", type=int, default=1_000_000)
    s.add_argument("--queries", type=int, default=1000)
    s.add_argument("--nprobe", default="16,32,64")
    s.add_argument("--out")
    x = sub.add_parser("crossover")
    x.add_argument("--sizes", default="5000,20000,50000,100000,200000")
    g = sub.add_parser("pg")
    g.add_argument("--n", type=int, default=100_000)
    g.add_argument("--queries", type=int, default=500)
    g.add_argument("--ef", default="40,100")
    g.add_argument("--pgdata", default="/tmp/lookalike-bench-pg")
    gg = sub.add_parser("gallery")
    gg.add_argument("--n", type=int, default=200_000)
    gg.add_argument("--queries", type=int, default=300)
    gg.add_argument("--gallery", default="/tmp/lookalike-bench-gallery")
    lf = sub.add_parser("lfw")
    lf.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    lf.add_argument("--people", type=int, default=0, help="first N people only (0: all)")
    lf.add_argument("--probes", type=int, default=0, help="at most N probe photos (0: all)")
    lf.add_argument("--workers", type=int, default=2)
    lf.add_argument("--gallery", default="/tmp/lfw-gallery")
    lf.add_argument("--resume", action="store_true")
    lf.add_argument("--cache", action="store_true",
                    help="let enrolment use the embedding cache (default: off, to time it)")
    b = sub.add_parser("big")
    b.add_argument("--n", type=int, default=10_000_000)
    b.add_argument("--queries", type=int, default=300)
    b.add_argument("--nlist", type=int, default=0, help="0: the gallery's choice (2·√n)")
    b.add_argument("--codec", choices=("flat", "sq8"), default=None,
                   help="default: the gallery's choice for n")
    b.add_argument("--nprobe", default="64,128,256")
    b.add_argument("--step", type=int, default=500_000)
    b.add_argument("--out")
    args = p.parse_args()
    {"big": cmd_big, "compare": cmd_compare, "scale": cmd_scale, "crossover": cmd_crossover,
     "pg": cmd_pg, "lfw": cmd_lfw, "gallery": cmd_gallery}[args.cmd](args)


if __name__ == "__main__":
    main()
