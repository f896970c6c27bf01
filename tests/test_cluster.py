"""Enrolment and training on a Dask cluster (lookalike.face.cluster): the same gallery and model as
the in-process path, photos sent as paths or bytes, a worker killed mid-batch, the scheduler
gone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.utils import CMD, Paused, astronaut, encode, grace_hopper, variants

distributed = pytest.importorskip("distributed")

from lookalike.face.cluster import ClusterError, parse_address  # noqa: E402
from lookalike.models.gallery import Gallery  # noqa: E402

pytestmark = pytest.mark.slow


def crowd(root: Path, people: int = 4, per_person: int = 4) -> Path:
    """``root/<person>/*.jpg``: ``people`` people made of the two real faces, each with
    photos of its own (other seeds), so every file's content differs."""
    faces = [astronaut(), grace_hopper()]
    for k in range(people):
        folder = root / f"person_{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, v in enumerate(variants(faces[k % 2], per_person, seed=100 + k)):
            (folder / f"p{k}_{i:02d}.jpg").write_bytes(encode(v, quality=90))
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = crowd(tmp_path_factory.mktemp("cluster") / "DATA")
    (root / "person_0" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def contents(g: Gallery) -> dict[str, tuple[str, np.ndarray]]:
    rows = g.store._q("SELECT f.digest, p.name, f.vector FROM photos f "
                      "JOIN people p ON p.id=f.person_id")
    return {d: (n, np.frombuffer(v, np.float32)) for d, n, v in rows}


def same_gallery(a: Gallery, b: Gallery, probes: list[Path]) -> None:
    ca, cb = contents(a), contents(b)
    assert ca.keys() == cb.keys() and len(ca) > 0
    for d in ca:
        assert ca[d][0] == cb[d][0]
        np.testing.assert_allclose(ca[d][1], cb[d][1], atol=1e-4)
    for p in probes:
        ra, rb = a.search(p), b.search(p)
        assert [m.person for m in ra.faces[0].ranking] == [m.person for m in rb.faces[0].ranking]
        assert ra.faces[0].ranking[0].photo == rb.faces[0].ranking[0].photo


def test_addresses():
    assert parse_address("local") == ("local", None)
    assert parse_address("local:3") == ("local", 3)
    assert parse_address("tcp://10.0.0.2:8786")[0] == "remote"
    for bad in ("local:0", "local:x", "nowhere"):
        with pytest.raises(ClusterError, match="not a cluster address"):
            parse_address(bad)


def test_cluster_gives_the_plain_gallery(folder, tmp_path):
    """local:2, paths and bytes, against the in-process path (no cache, so each made its own
    embeddings): same photos, same vectors, same answers; a re-run enrols nothing."""
    items = [(p.parent.name, p) for p in sorted(folder.glob("*/*.jpg"))]
    plain = Gallery.create(tmp_path / "plain")
    rp = plain.add_photos(items, workers=1, progress=False, cache=False)
    probes = [folder / "person_0" / "p0_00.jpg", folder / "person_1" / "p1_01.jpg"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as lc, distributed.Client(lc) as client:
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
        for ship in ("paths", "bytes"):
            g = Gallery.create(tmp_path / ship)
            rep = g.add_photos(items, progress=False, cache=False, cluster=client, ship=ship)
            assert rep.added == rp.added == 16
            assert [s[0] for s in rep.skipped] == [s[0] for s in rp.skipped]  # broken.jpg
            same_gallery(plain, g, probes)
            again = g.add_photos(items, progress=False, cluster=client, ship=ship)
            assert (again.added, again.already) == (0, 16)
            assert g.store.count() == 16 and g.check() == []
            g.close()
    plain.close()


class _NoSharedDisk:
    """Workers (threads of this process here) that cannot read the client's files."""

    def __enter__(self):
        import lookalike.face.cluster_worker as c

        self.c, self.old, self.calls = c, c._read_on_worker, []

        def refuse(path: str) -> bytes:
            self.calls.append(path)
            raise FileNotFoundError(path)

        c._read_on_worker = refuse
        return self

    def __exit__(self, *exc):
        self.c._read_on_worker = self.old


def test_photos_reach_workers_that_do_not_share_the_disk(folder, tmp_path):
    """auto probes and sends bytes; paths forced falls back to bytes photo by photo."""
    items = [(p.parent.name, p) for p in sorted(folder.glob("*/*.jpg"))]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as lc, \
            distributed.Client(lc.scheduler_address) as client:  # not known to be local
        for ship in ("auto", "paths"):
            with _NoSharedDisk() as nsd:
                g = Gallery.create(tmp_path / ship)
                rep = g.add_photos(items, progress=False, cache=False, cluster=client, ship=ship)
            assert rep.added == 16 and g.store.count() == 16
            # auto: only the probe's photos were tried at their path; paths: every one was
            assert len(nsd.calls) == (1 if ship == "auto" else 17)
            g.close()


def test_train_on_a_cluster_is_train(folder, tmp_path):
    from lookalike.models.train import train

    plain, prep = train(folder, progress=False, cache=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as lc, distributed.Client(lc) as client:
        dist, drep = train(folder, progress=False, cache=False, cluster=client)
    assert plain.labels == dist.labels
    np.testing.assert_allclose(plain.train_embeddings, dist.train_embeddings, atol=1e-4)
    assert (plain.train_labels == dist.train_labels).all()
    assert prep.skipped == drep.skipped and prep.skipped  # broken.jpg, same words
    assert prep.metrics == pytest.approx(drep.metrics)


def test_cluster_fills_the_client_cache(tmp_path, monkeypatch):
    """Workers write no cache; the client stores what they send, and a re-run that hits the
    cache needs no cluster at all (the address is never contacted)."""
    from lookalike.cache import DB_NAME
    from lookalike.models.train import train

    folder = crowd(tmp_path / "DATA", people=2, per_person=3)  # no broken photo: all cached
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path / "cache"))
    first, _ = train(folder, progress=False, cluster="local:1")
    assert (tmp_path / "cache" / DB_NAME).exists()
    again, _ = train(folder, progress=False, cluster="tcp://127.0.0.1:9")  # nobody there
    np.testing.assert_array_equal(first.train_embeddings, again.train_embeddings)


def run_cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=timeout)


def test_cli_cluster_options(folder, tmp_path):
    g = tmp_path / "g"
    assert run_cli("gallery", "create", g).returncode == 0
    r = run_cli("gallery", "add", g, folder, "--cluster", "local:2", "--ship", "bytes", "-q")
    assert r.returncode == 0, r.stderr
    assert "Enrolled 16 photo(s) of 4 people" in r.stdout
    r = run_cli("train", folder, "-o", tmp_path / "m.lookalike", "--cluster", "local:1", "-q")
    assert r.returncode == 0, r.stderr
    assert "Learned 4 people" in r.stdout
    for bad in (["--cluster", "local:0"], ["--cluster", "tcp://127.0.0.1:9"]):
        r = run_cli("gallery", "add", tmp_path / "g", folder, *bad, "-q")
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert ("not a cluster address" if bad[1] == "local:0"
                else "cannot reach the Dask scheduler") in r.stderr
    # a mistyped address is refused even when there is nothing to enrol
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("gallery", "add", tmp_path / "g", empty, "--cluster", "local:x", "-q")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "'local:x' is not a cluster address" in r.stderr


def test_worker_killed_mid_batch(tmp_path):
    """SIGKILL to a worker halfway through a batch: its batch is redone on another worker;
    nothing lost, nothing enrolled twice."""
    folder = crowd(tmp_path / "DATA", people=4, per_person=6)
    g = tmp_path / "g"
    assert run_cli("gallery", "create", g).returncode == 0
    env = dict(os.environ, LOOKALIKE_TEST_PAUSE_ONCE="1", LOOKALIKE_NO_CACHE="1")
    p = Paused(["gallery", "add", g, folder, "--cluster", "local:2", "--json"], env,
               "cluster-batch", tmp_path)
    pid = int(p.marker.read_text().split()[0])
    assert pid != p.proc.pid  # a worker process, not the client
    os.kill(pid, signal.SIGKILL)
    r = p.resume()
    assert r.returncode == 0, r.stderr
    with Gallery.open(g) as gal:
        assert gal.people() == [(f"person_{k}", 6) for k in range(4)]
        assert gal.store.count() == 24 and len(contents(gal)) == 24
        assert gal.check() == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(port: int) -> list[subprocess.Popen]:
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker"]
    env = dict(os.environ, LOOKALIKE_NO_CACHE="1")
    sched = subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", str(port),
                                     "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    work = subprocess.Popen(worker + [f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                                      "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    return [sched, work]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(30)


def test_scheduler_gone(tmp_path):
    """The scheduler killed mid-run: one line, the finished people stay committed, and the
    re-run against a new scheduler enrols the rest and nothing twice."""
    folder = crowd(tmp_path / "DATA", people=6, per_person=3)
    g = tmp_path / "g"
    assert run_cli("gallery", "create", g).returncode == 0
    port = free_port()
    procs = start_cluster(port)
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, LOOKALIKE_NO_CACHE="1")
    try:
        p = Paused(["gallery", "add", g, folder, "--cluster", address, "-q"], env,
                   "cluster-result:2", tmp_path)
        stop(procs)
        r = p.resume()
    finally:
        stop(procs)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "lost the Dask scheduler" in lines[0], r.stderr
    with Gallery.open(g) as gal:
        kept = contents(gal)
        assert 0 < len(kept) < 18 and gal.check() == []
    procs = start_cluster(port)
    try:
        r = run_cli("gallery", "add", g, folder, "--cluster", address, "--json", env=env)
    finally:
        stop(procs)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["already_enrolled"] == len(kept) and rep["added"] == 18 - len(kept)
    with Gallery.open(g) as gal:
        after = contents(gal)
        assert len(after) == 18 and kept.keys() <= after.keys() and gal.check() == []


def test_postgresql_gallery_on_a_cluster(folder, tmp_path, pg_uri):
    """A pgvector gallery enrolled on local:2 (committed by the client) holds what the
    in-process path enrols into the embedded gallery."""
    items = [(p.parent.name, p) for p in sorted(folder.glob("*/*.jpg"))]
    plain = Gallery.create(tmp_path / "plain")
    plain.add_photos(items, workers=1, progress=False, cache=False)
    pg = Gallery.create(f"{pg_uri}#cluster")
    try:
        rep = pg.add_photos(items, progress=False, cache=False, cluster="local:2")
        assert rep.added == 16 and pg.store.count() == 16
        assert pg.store.known_digests() == plain.store.known_digests()
        for person, _ in plain.people():
            a, b = plain.store.person_vectors(person), pg.store.person_vectors(person)
            np.testing.assert_allclose(np.sort(a, axis=0), np.sort(b, axis=0), atol=1e-4)
        probe = folder / "person_2" / "p2_01.jpg"
        assert [m.person for m in plain.search(probe).faces[0].ranking] == \
            [m.person for m in pg.search(probe).faces[0].ranking]
        again = pg.add_photos(items, progress=False, cluster="local:1")
        assert (again.added, again.already) == (0, 16)
    finally:
        pg.store.drop()
        pg.close()
        plain.close()


def test_a_scheduler_without_workers_is_one_error(folder, tmp_path, monkeypatch):
    import lookalike.face.cluster as c

    monkeypatch.setattr(c, "NO_WORKERS_S", 2.0)
    items = [(p.parent.name, p) for p in sorted(folder.glob("*/*.jpg"))]
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as lc, \
            distributed.Client(lc) as client:
        g = Gallery.create(tmp_path / "g")
        with pytest.raises(ClusterError, match="has no workers"):
            g.add_photos(items, progress=False, cache=False, cluster=client)
        assert g.store.count() == 0
        g.close()


def test_a_photo_that_kills_every_worker_is_skipped_alone(tmp_path):
    """A photo that crashes the worker analysing it (a native library dying on it): its batch
    is retried photo by photo, that photo is listed as skipped, every other one is enrolled."""
    from lookalike.photos.images import content_hash

    folder = crowd(tmp_path / "DATA", people=2, per_person=4)
    bad = folder / "person_1" / "p1_02.jpg"
    g = tmp_path / "g"
    assert run_cli("gallery", "create", g).returncode == 0
    env = dict(os.environ, LOOKALIKE_NO_CACHE="1",
               LOOKALIKE_TEST_CRASH_DIGEST=content_hash(bad.read_bytes()),
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")  # one death is enough here
    r = run_cli("gallery", "add", g, folder, "--cluster", "local:2", "--json", env=env)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["added"] == 7
    assert [(Path(p).name, why.split(" (")[0]) for p, why in rep["skipped"]] == \
        [("p1_02.jpg", "crashed every worker that analysed it")]


class _FakeClient:
    """Just enough of a distributed.Client for lookalike.face.cluster._Batches: records the
    batches it is given (no cluster)."""

    def __init__(self, threads: int):
        self.threads, self.sizes, self.asked = threads, [], 0

    def nthreads(self) -> dict:
        self.asked += 1
        return {f"w{i}": 1 for i in range(self.threads)}

    def submit(self, fn, items, *args, pure=True):
        self.sizes.append(len(items))
        return object()


@pytest.mark.parametrize(("threads", "as_bytes"), [(1, False), (2, False), (8, False),
                                                   (2, True)])
def test_batches_shrink_towards_the_end(threads, as_bytes, monkeypatch):
    """Large batches while many photos wait (few tasks: each costs the client process Dask
    work), small ones at the end (no worker left waiting on a long last batch); every photo
    sent once; the worker count is not asked for every batch."""
    import lookalike.face.cluster as c
    import lookalike.photos.images as images

    monkeypatch.setattr(images, "read_bytes", lambda p: str(p).encode())  # no files here
    from lookalike.face.many import Job

    jobs = [Job(i, f"/p/{i}.jpg", f"d{i}") for i in range(500)]
    client = _FakeClient(threads)
    b = c._Batches(client, "fake", jobs, as_bytes, "sface", False)
    while b.fresh:
        b.running.clear()  # as if every batch on the cluster finished
        b.submit()
    sizes = client.sizes
    assert sum(sizes) == 500
    most = c.BATCH_PHOTOS_BYTES if as_bytes else c.BATCH_PHOTOS
    assert max(sizes) == most and all(s >= c.MIN_BATCH for s in sizes[:-1])
    assert sizes == sorted(sizes, reverse=True)
    if not as_bytes:  # a fixed 8 per task was 63 tasks
        assert len(sizes) < 500 / 8 * 0.75
    assert client.asked <= 2


def test_local_cluster_settings_reach_the_workers():
    """local:N's Dask settings (lookalike.face.cluster.LOCAL_CONFIG) are in force on its worker
    processes, not only in this one."""
    import lookalike.face.cluster as c

    def settings() -> tuple:
        import dask

        return (dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.scheduler.work-stealing"))

    with c.connect("local:1") as client:
        assert list(client.run(settings).values()) == [(False, False)]
        assert client.direct_to_workers
