"""The web server under abuse, CI-sized: a real ``lookalike serve`` process (uvicorn, its own
port on 127.0.0.1) answers good photos while ~150 bad requests of every kind in
bench/studies/web/bench_web.py are mixed in (broken and hostile uploads, malformed HTTP and
multipart, oversized bodies, huge headers, bad parameters, traversal attempts, slow and
vanishing clients, bursts of 16). The full run with 1,000 bad requests on lfw7 is
``python -m bench.studies.web.bench_web abuse`` (bench/studies/web/NOTE.md)."""

from __future__ import annotations

import asyncio

import pytest

from tests.utils import astronaut, encode, grace_hopper, variants

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from bench.studies.web import bench_web as bw  # noqa: E402

pytestmark = pytest.mark.slow  # a real server under ~150 bad requests

#: Statuses that are not an HTTP answer but what the abusing client itself chose to do.
CLIENT_CHOICES = {"client_timeout", "client_hung_up"}


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    log = tmp_path_factory.mktemp("abuse") / "server.log"
    proc, base, port = bw.start_server(trained[2], log)
    yield proc, base, port, log
    bw.stop_server(proc)


def good_photos() -> list[tuple[str, bytes, str]]:
    """Photos the model was not trained on (other seeds), with the person they show."""
    out = []
    for person, rgb in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        for i, v in enumerate(variants(rgb, 3, seed=101)):
            out.append((f"{person}_{i}.jpg", encode(v, quality=90), person))
    return out


def test_bad_requests_get_json_4xx_and_good_answers_do_not_change(server):
    proc, base, port, log = server
    photos = good_photos()
    asyncio.run(bw.good_load(base, photos, n=10, concurrency=2))  # warm-up
    kinds = bw.abuse_kinds(photos[0][1], slow_timeout=1.0, oversize_mb=40, big_side=2000)
    res = asyncio.run(bw.abuse_run(base, port, proc.pid, photos, kinds, n_bad=150,
                                   n_clean=12, n_after=6, log=lambda _: None))
    bad = res["bad"]
    assert bad["requests"] == 150 and set(bad["kinds"]) == set(kinds)
    assert bad["bursts"] >= 1

    # zero 5xx, and no request the server dropped without an answer
    assert bad["errors_5xx"] == 0, bad["status"]
    assert bad["server_side_failures"] == 0, bad["unexpected"]
    # every 4xx the app gives is {"error": code, "detail": message}; only uvicorn's own
    # answer to bytes that are not HTTP is plain text
    assert bad["non_json_4xx"] == []
    for kind, reply in res["_bad"].all():
        expected = kinds[kind].expected
        if reply.status in expected:
            continue
        # another 4xx than the one recorded is fine for a bad request, if it is a JSON error
        assert reply.status.startswith("4") and reply.json_error and all(
            s.startswith("4") or s in CLIENT_CHOICES | {"reset_while_sending",
                                                        "closed_without_answer"}
            for s in expected), (kind, reply.status, reply.body[:200])
        assert reply.status != "200"
    for kind in ("not_http", "bad_content_length"):
        assert all(r.protocol_level for r in res["_bad"].replies[kind])
    # oversized bodies are refused early: with a declared length before the body is read,
    # without one as soon as the limit (10 MB) is passed, not after all 40 MB
    for kind in ("oversized_declared_length", "oversized_chunked"):
        assert bad["kinds"][kind]["status"] == {"413": bad["kinds"][kind]["n"]}
        assert bad["kinds"][kind]["max_body_mb_sent_before_answer"] < 30

    # good requests: all answered, the same answer for each photo with and without abuse
    clean, mixed, after = res["_clean"], res["_mixed"], res["_after"]
    assert clean.statuses == {"200": 12}
    assert set(mixed.statuses) == {"200"} and mixed.n >= 6
    assert set(after.statuses) == {"200"}
    assert res["answers_changed"] == []
    assert clean.right == clean.n and mixed.right == mixed.n and after.right == after.n

    # still alive and answering; memory flat; nothing in the log but refused requests
    health = res["healthz_during_abuse"]
    assert health["requests"] >= 1 and set(health["status"]) == {"200"}
    assert proc.poll() is None
    assert httpx.get(f"{base}/healthz", timeout=10).json()["status"] == "ok"
    # memory: no leak. The abuse's odd sizes run YuNet's dynamic-shape model, up to 1280 px
    # (its second look at a big photo without a face); runtime.Network releases that model's
    # buffers after a big input (they stayed: +19-23 % here; BENCHMARKS "Memory under varied
    # sizes")
    rss = res["rss_mb"]
    print(f"RSS {rss} MB, growth {res['rss_growth_pct']:+.1f} %")
    assert res["rss_growth_pct"] < 25, rss
    assert bw.log_problems(log.read_text(errors="replace")) == []
