"""Load test of ``lookalike serve``: real face photos (lfw7) POSTed to /api/predict.

Starts the server as its own process on 127.0.0.1 (loopback only), warms it up, then measures
  * service time: requests one at a time (the latency of one single-face photo);
  * load: N requests at concurrency C (default 10,000 at 16): throughput, p50 / p99 latency,
    status counts (any 5xx is a failure), and the server's RSS before, during (peak) and after.
The client runs on the same machine and shares its cores with the server.

    python -m bench.studies.web.bench_web [--requests 10000] [--concurrency 16] [--model M]

Writes bench/studies/web/results/web.json.

    .venv/bin/python -m bench.studies.web.bench_web abuse [--bad 1000] [--clean 300] [--model M]

the server under abuse: lfw7 validation photos to /api/predict (is the top person right?),
first alone, then with 1,000 bad requests of ~40 kinds mixed in at random (broken and hostile
uploads, malformed HTTP and multipart, oversized bodies, slow and vanishing clients, bursts of
16), then alone again: status counts (zero 5xx), every 4xx a JSON error, good latency and
accuracy with / without the abuse, server RSS and log. Writes results/web_abuse.json.

Needs lookalike[web] and ../shared/data/lfw7 (or $LOOKALIKE_DATA).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from asyncio import FIRST_COMPLETED
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import lfw7, lookalike_cli, machine, save  # noqa: E402


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
    from lookalike.models.model import load
    from lookalike.photos.images import load_image

    rec = load(model)
    pipe = rec.pipeline
    pipe.cache = None
    rec.predict(photos[0][1], all_faces=True)  # load the networks
    times: dict[str, list[float]] = {"decode": [], "detect": [], "embed": [], "predict": []}
    for _, data in photos:
        t0 = time.perf_counter()
        rgb = load_image(data, max_side=1600)
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


# == abuse: good requests with bad ones mixed in =============================================
#
# ``bench_web.py abuse``: the server must answer every bad request with a 4xx (JSON
# ``{"error", "detail"}`` from the app; uvicorn itself answers unparseable HTTP with a plain-text
# 400 before the app sees it), never a 5xx, while good requests keep their answers and speed
# and the server's memory stays flat. tests/web/test_web_abuse.py runs the same code, CI-sized.

HOST = "127.0.0.1"
#: uvicorn's own answer to bytes that are not HTTP (h11 could not parse them).
PROTOCOL_400 = b"Invalid HTTP request received."
BOUNDARY = "lookalikeabuse7e3"


@dataclass
class Reply:
    """What a raw client got: ``status`` is the HTTP status, or what happened instead
    (``client_timeout``: the client gave up as planned; ``client_hung_up``: it closed
    mid-upload on purpose; ``reset_while_sending``: the server closed the connection before
    the request was all sent, or reset it (closed with part of it unread), i.e. refused it;
    ``closed_without_answer`` / ``connect_error``: the server's fault)."""

    status: str
    seconds: float = 0.0
    body: bytes = b""
    content_type: str = ""
    body_sent: int = 0

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def protocol_level(self) -> bool:
        return self.status == "400" and self.body.strip() == PROTOCOL_400

    @property
    def json_error(self) -> bool:
        """A JSON body ``{"error": code, "detail": message}`` with both non-empty."""
        doc = self.json
        return (isinstance(doc, dict) and isinstance(doc.get("error"), str)
                and isinstance(doc.get("detail"), str) and bool(doc["error"])
                and bool(doc["detail"]))


def form(parts: list[tuple[str, str | None, str | None, bytes]],
         boundary: str = BOUNDARY, close: bool = True) -> bytes:
    """A multipart/form-data body from (field, filename, content type, data) parts."""
    out = []
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        out.append(head.encode() + b"\r\n" + data + b"\r\n")
    if close:
        out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def http(method: str, path: str, body: bytes = b"", *, ctype: str | None = None,
         length: int | None = -1, extra: bytes = b"") -> bytes:
    """One HTTP/1.1 request (Connection: close). ``length``: -1 = the body's, None = no
    Content-Length header; ``extra``: raw header lines, each ending in CRLF."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n"
    if ctype is not None:
        head += f"Content-Type: {ctype}\r\n"
    if length is not None:
        head += f"Content-Length: {len(body) if length == -1 else length}\r\n"
    return head.encode() + extra + b"\r\n" + body


def upload(data: bytes, path: str = "/api/predict", name: str = "photo",
           filename: str | None = "photo.jpg", ctype: str | None = "image/jpeg") -> bytes:
    return http("POST", path, form([(name, filename, ctype, data)]),
                ctype=f"multipart/form-data; boundary={BOUNDARY}")


async def _read_answer(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    loop = asyncio.get_running_loop()
    data = b""
    while b"\r\n\r\n" not in data:
        more = await loop.sock_recv(sock, 65536)
        if not more:
            raise asyncio.IncompleteReadError(data, None)
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        if key:
            headers[key.strip().lower()] = value.strip()
    size = int(headers.get("content-length", 1 << 30))
    while len(body) < size:
        more = await loop.sock_recv(sock, 65536)
        if not more:
            if "content-length" in headers:
                raise asyncio.IncompleteReadError(body, size)
            break
        body += more
    return status, headers, body


async def exchange(port: int, chunks: Iterable[bytes], *, timeout: float = 30.0,
                   pause: float = 0.0, hang_up: bool = False, head_len: int = 0) -> Reply:
    """Send ``chunks`` on a fresh connection (``pause`` s between them) while reading the
    answer; stop sending as soon as it comes. ``hang_up``: close after the last chunk without
    reading. ``head_len``: bytes of the first chunk that are headers, not body (for
    ``body_sent``). A plain non-blocking socket, not asyncio streams: a stream transport
    drops what it has not read yet when a write fails, and a server that refuses a big body
    answers, then closes while the client is still writing."""
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    deadline = t0 + timeout
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), timeout)
    except (OSError, TimeoutError):
        sock.close()
        return Reply("connect_error", time.perf_counter() - t0)
    answer = asyncio.ensure_future(_read_answer(sock))
    sent = 0
    reset = False
    try:
        for chunk in chunks:
            if answer.done():
                break
            if time.perf_counter() > deadline:
                raise TimeoutError
            send = asyncio.ensure_future(loop.sock_sendall(sock, chunk))
            done, _ = await asyncio.wait({send, answer}, return_when=FIRST_COMPLETED,
                                         timeout=max(0.01, deadline - time.perf_counter()))
            if send not in done:
                send.cancel()
                if answer.done():
                    break
                raise TimeoutError
            if send.exception() is not None:  # the server closed its side: read its answer
                reset = True
                break
            sent += len(chunk)
            if pause:
                await asyncio.sleep(pause)
        if hang_up:
            return Reply("client_hung_up", time.perf_counter() - t0,
                         body_sent=max(0, sent - head_len))
        status, headers, body = await asyncio.wait_for(
            answer, max(0.01, deadline - time.perf_counter()))
        return Reply(status, time.perf_counter() - t0, body, headers.get("content-type", ""),
                     max(0, sent - head_len))
    except TimeoutError:
        return Reply("client_timeout", time.perf_counter() - t0, body_sent=sent)
    except (asyncio.IncompleteReadError, ConnectionError, OSError, IndexError) as err:
        # reset while the request was still being sent, or a reset (RST, not a clean close)
        # at any time: the server closed with part of the request unread, i.e. refused it,
        # and the reset destroyed its answer in the client's buffer; a clean close after
        # the whole request was read: the server failed
        reset = reset or isinstance(err, ConnectionResetError)
        return Reply("reset_while_sending" if reset else "closed_without_answer",
                     time.perf_counter() - t0, body_sent=max(0, sent - head_len))
    finally:
        answer.cancel()
        with contextlib.suppress(BaseException):
            await answer
        sock.close()


def _png(rgb_or_size: np.ndarray | tuple[int, int], mode: str = "RGB") -> bytes:
    from PIL import Image

    if isinstance(rgb_or_size, tuple):
        im = Image.new(mode, rgb_or_size, 128 if mode == "L" else (128, 128, 128))
    else:
        im = Image.fromarray(rgb_or_size)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Kind:
    """One kind of bad request: ``send(port, rng)`` and the statuses the app is meant to give
    (``client_timeout`` / ``client_hung_up`` for clients that never wait for an answer)."""

    send: Callable[[int, random.Random], Awaitable[Reply]]
    expected: frozenset[str]
    weight: float = 1.0
    note: str = ""


def abuse_kinds(jpeg: bytes, *, slow_timeout: float = 3.0, oversize_mb: int = 200,
                big_side: int = 7000) -> dict[str, Kind]:
    """Every kind of bad request, built around ``jpeg`` (a real photo with a face)."""
    png = _png(_decode(jpeg))
    bomb = _png((30000, 30000), "L")  # 900 Mpx of grey in under 1 MB
    big = _png((big_side, big_side)) if big_side else b""  # under the pixel limit: decoded
    ct_form = f"multipart/form-data; boundary={BOUNDARY}"

    def send(request: bytes | Callable[[random.Random], bytes], piece: int = 0,
             **kw: Any) -> Callable:
        async def go(port: int, rng: random.Random) -> Reply:
            data = request(rng) if callable(request) else request
            step = piece or len(data) or 1
            return await exchange(port, [data[i:i + step] for i in range(0, len(data), step)],
                                  **kw)
        return go

    def one_of(*requests: bytes) -> Callable[[random.Random], bytes]:
        return lambda rng: rng.choice(requests)

    async def oversized(port: int, rng: random.Random, declared: bool) -> Reply:
        total = oversize_mb * 1024 * 1024
        piece = b"\0" * (64 * 1024)
        prefix = form([("photo", "big.jpg", "image/jpeg", b"\xff\xd8\xff")], close=False)
        if declared:
            head = http("POST", "/api/predict", ctype=ct_form, length=total)
            chunks: Iterable[bytes] = itertools.chain(
                [head, prefix], itertools.repeat(piece, total // len(piece)))
        else:
            head = (f"POST /api/predict HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n"
                    f"Content-Type: {ct_form}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
            chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            chunks = itertools.chain([head], itertools.repeat(chunk, total // len(piece)))
        return await exchange(port, chunks, timeout=60, head_len=len(head))

    async def slow_body(port: int, rng: random.Random) -> Reply:
        body = form([("photo", "slow.jpg", "image/jpeg", jpeg)])
        head = http("POST", "/api/predict", ctype=ct_form, length=len(body))
        pieces = [body[i:i + 16] for i in range(0, len(body), 16)]
        return await exchange(port, [head, *pieces], timeout=slow_timeout, pause=0.25)

    async def slow_headers(port: int, rng: random.Random) -> Reply:
        head = http("GET", "/healthz", extra=b"X-Slow: " + b"a" * 200 + b"\r\n")
        return await exchange(port, [head[i:i + 4] for i in range(0, len(head) - 2, 4)],
                              timeout=slow_timeout, pause=0.25)

    async def hang_up(port: int, rng: random.Random) -> Reply:
        data = upload(jpeg)
        cut = rng.randrange(len(data) // 4, len(data) - 8)
        return await exchange(port, [data[:cut]], hang_up=True)

    def bad_jpeg(rng: random.Random) -> bytes:
        return upload(b"\xff\xd8\xff\xe0" + rng.randbytes(rng.randrange(100, 20000)))

    def truncated(data: bytes, name: str) -> Callable[[random.Random], bytes]:
        return lambda rng: upload(data[:rng.randrange(len(data) // 5, len(data) * 4 // 5)],
                                  filename=name)

    def garbage_form(rng: random.Random) -> bytes:
        return http("POST", "/api/predict", rng.randbytes(3000), ctype=ct_form)

    text = b"This is a note, not a photo.\n" * 40
    k = {
        "zero_byte_upload": Kind(send(upload(b"")), frozenset({"400"})),
        "truncated_jpeg": Kind(send(truncated(jpeg, "cut.jpg")), frozenset({"422"})),
        "truncated_png": Kind(send(truncated(png, "cut.png")), frozenset({"422"})),
        "header_only_jpeg": Kind(send(upload(jpeg[:24])), frozenset({"422"})),
        "random_bytes": Kind(send(lambda rng: upload(rng.randbytes(rng.randrange(1, 50000)))),
                             frozenset({"415"})),
        "jpeg_magic_then_junk": Kind(send(bad_jpeg), frozenset({"422"})),
        "text_as_image": Kind(send(upload(text, filename="note.jpg")), frozenset({"415"})),
        "decompression_bomb_png": Kind(send(upload(bomb, filename="bomb.png",
                                                   ctype="image/png")), frozenset({"413"}),
                                       note=f"30000x30000 grey PNG, {len(bomb)} bytes"),
        "oversized_declared_length": Kind(partial(oversized, declared=True),
                                          frozenset({"413", "reset_while_sending"}), 0.5,
                                          f"Content-Length {oversize_mb} MB"),
        "oversized_chunked": Kind(partial(oversized, declared=False),
                                  frozenset({"413", "reset_while_sending"}), 0.5,
                                  f"{oversize_mb} MB chunked, no Content-Length"),
        "missing_field": Kind(send(http("POST", "/api/predict", form([("x", None, None, b"1")]),
                                        ctype=ct_form)), frozenset({"400"})),
        "photo_as_text_field": Kind(send(http("POST", "/api/predict",
                                              form([("photo", None, None, b"me.jpg")]),
                                              ctype=ct_form)), frozenset({"400"})),
        "wrong_field_name": Kind(send(upload(jpeg, name="image")), frozenset({"200"}),
                                 note="accepted: the first file of the form is the photo"),
        "two_photos_to_predict": Kind(send(http("POST", "/api/predict", form(
            [("photo", "a.jpg", "image/jpeg", jpeg)] * 2), ctype=ct_form)),
            frozenset({"400"})),
        "no_body": Kind(send(http("POST", "/api/predict")), frozenset({"415"})),
        "json_body": Kind(send(http("POST", "/api/predict", b'{"photo": "me.jpg"}',
                                    ctype="application/json")), frozenset({"415"})),
        "raw_jpeg_body": Kind(send(http("POST", "/api/predict", jpeg, ctype="image/jpeg")),
                              frozenset({"415"})),
        "multipart_no_boundary": Kind(send(http("POST", "/api/predict", form(
            [("photo", "a.jpg", "image/jpeg", jpeg)]), ctype="multipart/form-data")),
            frozenset({"400"})),
        "multipart_wrong_boundary": Kind(send(http("POST", "/api/predict", form(
            [("photo", "a.jpg", "image/jpeg", jpeg)]),
            ctype="multipart/form-data; boundary=somethingelse")), frozenset({"400"})),
        "multipart_no_closing_boundary": Kind(send(http("POST", "/api/predict", form(
            [("photo", "a.jpg", "image/jpeg", jpeg)], close=False), ctype=ct_form)),
            frozenset({"400"})),
        "multipart_garbage": Kind(send(garbage_form), frozenset({"400"})),
        "multipart_too_many_fields": Kind(send(http("POST", "/api/predict", form(
            [(f"f{i}", None, None, b"x") for i in range(200)]), ctype=ct_form)),
            frozenset({"400"})),
        "too_many_photos_to_verdict": Kind(send(http("POST", "/api/verdict", form(
            [("photo", f"{i}.jpg", "image/jpeg", jpeg[:2000]) for i in range(20)]),
            ctype=ct_form)), frozenset({"400"})),
        "huge_header_64k": Kind(send(http("GET", "/healthz",
                                          extra=b"X-Big: " + b"a" * 65536 + b"\r\n")),
                                frozenset({"200", "400", "431", "reset_while_sending"}),
                                note="refused with 400 before the header is all read; "
                                     "the close's reset can destroy the answer"),
        "huge_header_1m": Kind(send(http("GET", "/healthz",
                                         extra=b"X-Big: " + b"a" * 2**20 + b"\r\n"),
                                    piece=16384, pause=0.005),
                               frozenset({"400", "431", "reset_while_sending",
                                          "closed_without_answer"}),
                               note="the server answers 400 and closes; its reset can beat "
                                    "the answer to the client"),
        "many_headers": Kind(send(http("GET", "/healthz", extra=b"".join(
            b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(2000)))),
            frozenset({"200", "400", "431", "reset_while_sending"}),
            note="as huge_header_64k: a 400, or the reset that overtook it"),
        "bad_top": Kind(send(lambda rng: upload(jpeg, path="/api/predict?top=" + rng.choice(
            ["0", "-1", "abc", "1000000000", "1.5", "", "%00", "9" * 40]))),
            frozenset({"422"})),
        "unknown_path": Kind(send(one_of(http("GET", "/api/nope"), http("POST", "/admin"),
                                         http("GET", "/api/predict/extra"),
                                         http("GET", "/" + "a" * 4000))), frozenset({"404"})),
        "wrong_method": Kind(send(one_of(http("GET", "/api/predict"),
                                         http("PUT", "/api/predict"),
                                         http("DELETE", "/healthz"),
                                         http("PATCH", "/api/people"),
                                         http("GET", "/api/verdict"))), frozenset({"405"})),
        "thumb_traversal": Kind(send(one_of(
            http("GET", "/api/thumbs/..%2F..%2F..%2Fetc%2Fpasswd"),
            http("GET", "/api/thumbs/../../etc/passwd"), http("GET", "/api/thumbs/-1"),
            http("GET", "/api/thumbs/99999999999999999999999"),
            http("GET", "/api/thumbs/1e9"), http("GET", "/api/thumbs/%00"))),
            frozenset({"404", "422"})),
        "person_name_traversal": Kind(send(one_of(
            http("DELETE", "/api/people/..%2F..%2Fetc%2Fpasswd"),
            http("DELETE", "/api/people/%2e%2e"),
            upload(jpeg, path="/api/people/..%2F..%2Ftmp%2Fx/photos"),
            upload(jpeg, path="/api/people/%2e%2e/photos"))),
            frozenset({"403", "404"}), note="changes are off without a token: 403"),
        "static_traversal": Kind(send(one_of(
            http("GET", "/static/..%2F..%2Fapp.py"), http("GET", "/static/%2e%2e/app.py"),
            http("GET", "/static/../../../etc/passwd"),
            http("GET", "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"))),
            frozenset({"404"})),
        "not_http": Kind(send(one_of(b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00",
                                     b"\x00\x01\x02\x03\r\n\r\n")), frozenset({"400"}),
                         note="junk, a TLS hello, binary"),
        "bad_content_length": Kind(send(one_of(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")),
            frozenset({"400"})),
        "slow_body": Kind(slow_body, frozenset({"client_timeout"}), 0.15,
                          f"16 bytes every 0.25 s, client gives up after {slow_timeout} s"),
        "slow_headers": Kind(slow_headers, frozenset({"client_timeout"}), 0.15,
                             f"4 bytes every 0.25 s, client gives up after {slow_timeout} s"),
        "disconnect_mid_upload": Kind(hang_up, frozenset({"client_hung_up"})),
    }
    if big:
        k["big_blank_png_under_pixel_limit"] = Kind(
            send(upload(big, filename="big.png", ctype="image/png"), timeout=120),
            frozenset({"422"}), 0.15,
            f"{big_side}x{big_side} PNG ({len(big)} bytes): decoded, no face")
    return k


def _decode(jpeg: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as im:
        return np.asarray(im.convert("RGB"))


@dataclass
class Good:
    """Good requests' outcomes in one phase."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    answers: dict[int, list[tuple[str, float]]] = field(default_factory=dict)
    right: int = 0
    n: int = 0

    def summary(self) -> dict:
        ms = 1000 * np.asarray(self.latencies or [np.nan], np.float64)
        return {"requests": self.n, "status": dict(self.statuses),
                "accuracy": round(self.right / self.n, 4) if self.n else None,
                "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p95_ms": round(float(np.percentile(ms, 95)), 1)}


async def good_load(base: str, photos: list[tuple[str, bytes, str]], *, n: int | None,
                    concurrency: int, until: asyncio.Event | None = None,
                    offset: int = 0) -> Good:
    """POST photos (name, bytes, true person) to /api/predict: ``n`` requests, or until
    ``until`` is set. Records latency, the top person (is it right?) and its probability."""
    import httpx

    out = Good()
    counter = itertools.count(offset)

    async def worker(client: httpx.AsyncClient) -> None:
        while not (until is not None and until.is_set()):
            i = next(counter)
            if until is None and i - offset >= (n or 0):
                return
            k = i % len(photos)
            name, data, person = photos[k]
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{base}/api/predict?top=3",
                                      files={"photo": (name, data, "image/jpeg")})
                status = str(r.status_code)
                top = r.json()["faces"][0]["ranking"][0] if r.status_code == 200 else None
            except (httpx.HTTPError, ValueError, KeyError, IndexError) as err:
                status, top = type(err).__name__, None
            out.latencies.append(time.perf_counter() - t0)
            out.statuses[status] += 1
            out.n += 1
            if top is not None:
                out.answers.setdefault(k, []).append((top["person"], top["probability"]))
                out.right += top["person"] == person

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return out


@dataclass
class Bad:
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    bursts: int = 0

    def add(self, kind: str, reply: Reply) -> None:
        self.replies.setdefault(kind, []).append(reply)

    def all(self) -> list[tuple[str, Reply]]:
        return [(k, r) for k, rs in self.replies.items() for r in rs]


async def bad_load(port: int, kinds: dict[str, Kind], n: int, *, concurrency: int = 4,
                   burst: int = 16, burst_share: float = 0.25, seed: int = 0) -> Bad:
    """``n`` bad requests drawn at random from ``kinds`` (by weight, each kind at least once),
    sent by ``concurrency`` clients; about ``burst_share`` of them go out in bursts of
    ``burst`` at once."""
    rng = random.Random(seed)
    names = list(kinds)
    todo = list(names) + rng.choices(names, [kinds[k].weight for k in names],
                                     k=max(0, n - len(names)))
    rng.shuffle(todo)
    # burst_share of them (at least one burst when there are enough) go in groups of `burst`
    n_bursts = max(1, round(len(todo) * burst_share / burst)) if len(todo) >= 2 * burst else 0
    items: list[list[str]] = [todo[i * burst:(i + 1) * burst] for i in range(n_bursts)]
    items += [[k] for k in todo[n_bursts * burst:]]
    rng.shuffle(items)
    out = Bad(bursts=n_bursts)

    async def one(kind: str, r: random.Random) -> None:
        out.add(kind, await kinds[kind].send(port, r))

    async def worker(w: int) -> None:
        r = random.Random(seed * 1000 + w)
        while items:
            group = items.pop()
            await asyncio.gather(*(one(k, random.Random(r.random())) for k in group))

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return out


def bad_summary(bad: Bad, kinds: dict[str, Kind]) -> dict:
    """Status counts overall and per kind, and what broke the rules."""
    statuses: Counter[str] = Counter()
    per_kind = {}
    non_json = []
    unexpected = {}
    for kind, replies in sorted(bad.replies.items()):
        c = Counter(r.status for r in replies)
        statuses.update(c)
        sent = [r.body_sent for r in replies
                if r.status[:1].isdigit() or r.status == "reset_while_sending"]
        per_kind[kind] = {"n": len(replies), "status": dict(c),
                          "p50_ms": round(1000 * float(np.median([r.seconds for r in replies])),
                                          1)}
        if kind.startswith("oversized"):
            # bytes of body the client got out before the answer or the server's reset
            per_kind[kind]["max_body_mb_sent_before_answer"] = round(
                max(sent or [0]) / 2**20, 2)
        if kinds[kind].note:
            per_kind[kind]["note"] = kinds[kind].note
        odd = {s: n for s, n in c.items() if s not in kinds[kind].expected}
        if odd:
            unexpected[kind] = odd
        for r in replies:
            if r.status.startswith("4") and not r.json_error and not r.protocol_level:
                non_json.append({"kind": kind, "status": r.status,
                                 "body": r.body[:200].decode("utf-8", "replace")})
    return {"requests": sum(statuses.values()), "bursts": bad.bursts,
            "status": dict(sorted(statuses.items())),
            "errors_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
            "server_side_failures": sum(
                1 for k, r in bad.all() if r.status in ("closed_without_answer", "connect_error")
                and r.status not in kinds[k].expected),
            "protocol_level_400": sum(1 for _, r in bad.all() if r.protocol_level),
            "non_json_4xx": non_json, "unexpected": unexpected, "kinds": per_kind}


async def abuse_run(base: str, port: int, pid: int, photos: list[tuple[str, bytes, str]],
                    kinds: dict[str, Kind], *, n_bad: int, n_clean: int, n_after: int,
                    good_concurrency: int = 2, bad_concurrency: int = 4, seed: int = 0,
                    log: Callable[[str], None] = print) -> dict:
    """A clean phase (good requests only), a mixed phase (good requests until ``n_bad`` bad
    ones are answered) and a clean phase after; RSS sampled throughout."""
    rss = {"after_warm_up": rss_mb(pid)}
    peak = [rss["after_warm_up"]]
    stop_sampling = asyncio.Event()

    async def sample() -> None:
        while not stop_sampling.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample())
    t0 = time.perf_counter()
    clean = await good_load(base, photos, n=n_clean, concurrency=good_concurrency)
    log(f"clean: {clean.summary()}")
    rss["after_clean"] = rss_mb(pid)
    done = asyncio.Event()
    t1 = time.perf_counter()
    mixed_task = asyncio.ensure_future(good_load(base, photos, n=None, until=done,
                                                 concurrency=good_concurrency))
    health_task = asyncio.ensure_future(health_probe(base, done))
    bad = await bad_load(port, kinds, n_bad, concurrency=bad_concurrency, seed=seed)
    done.set()
    mixed = await mixed_task
    health = await health_task
    t2 = time.perf_counter()
    log(f"mixed: {mixed.summary()} with {sum(map(len, bad.replies.values()))} bad requests "
        f"in {t2 - t1:.1f} s")
    rss["after_abuse"] = rss_mb(pid)
    after = await good_load(base, photos, n=n_after, concurrency=good_concurrency)
    log(f"after: {after.summary()}")
    rss["end"] = rss_mb(pid)
    stop_sampling.set()
    await sampler
    rss["peak"] = peak[0]
    # the same photo must get the same answer every time, with and without abuse around it
    first = {k: v[0] for k, v in clean.answers.items()}
    changed = sorted(k for k in set(clean.answers) | set(mixed.answers) | set(after.answers)
                     if k not in first or any(
                         p != first[k][0] or abs(q - first[k][1]) > 1e-3
                         for p, q in clean.answers.get(k, []) + mixed.answers.get(k, [])
                         + after.answers.get(k, [])))
    cs, ms = clean.summary(), mixed.summary()
    return {"clean": cs, "mixed": ms, "after": after.summary(),
            "mixed_vs_clean": {"p50_ratio": round(ms["p50_ms"] / cs["p50_ms"], 2),
                               "p95_ratio": round(ms["p95_ms"] / cs["p95_ms"], 2)},
            "answers_changed": changed, "bad": bad_summary(bad, kinds),
            "healthz_during_abuse": health,
            "rss_mb": {k: round(v, 1) for k, v in rss.items()},
            "rss_growth_pct": round(100 * (rss["end"] - rss["after_warm_up"])
                                    / rss["after_warm_up"], 2),
            "seconds": {"clean": round(t1 - t0, 1), "mixed": round(t2 - t1, 1)},
            "_clean": clean, "_mixed": mixed, "_after": after, "_bad": bad}


async def health_probe(base: str, stop: asyncio.Event, every: float = 1.0) -> dict:
    """GET /healthz every ``every`` s until ``stop``: a liveness probe must answer at once
    however busy the prediction threads are."""
    import httpx

    statuses: Counter[str] = Counter()
    ms = []
    async with httpx.AsyncClient(timeout=60) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                statuses[str((await client.get(f"{base}/healthz")).status_code)] += 1
            except httpx.HTTPError as err:
                statuses[type(err).__name__] += 1
            ms.append(1000 * (time.perf_counter() - t0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    return {"requests": len(ms), "status": dict(statuses),
            "p50_ms": round(float(np.median(ms)), 1) if ms else None,
            "max_ms": round(max(ms), 1) if ms else None}


def start_server(model: str | Path, log_path: Path, env: dict | None = None,
                 timeout: float = 120) -> tuple[subprocess.Popen, str, int]:
    """``lookalike serve MODEL`` on a free loopback port, its stderr to ``log_path``; returns
    once /healthz answers."""
    import httpx

    port = free_port()
    env = dict(env or os.environ, LOOKALIKE_PROGRESS="0")
    log = open(log_path, "wb")  # noqa: SIM115 - the server writes to it until it stops
    server = subprocess.Popen([*lookalike_cli(), "serve", str(model), "--host", HOST,
                               "--port", str(port)], env=env, stdout=log, stderr=log)
    log.close()
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return server, base, port
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"the server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def log_problems(text: str) -> list[str]:
    """Server log lines that mean a fault (tracebacks, ERROR), not a refused request."""
    return [line for line in text.splitlines()
            if line.startswith(("ERROR", "Traceback")) or "Exception in ASGI" in line]


def _abuse_data(tmp: Path) -> tuple[str, Path, Path]:
    """(source, train folder, validation folder): lfw7, or two skimage/matplotlib people."""
    try:
        data = lfw7()
        return "lfw7", data / "train", data / "validation"
    except SystemExit:
        from tests.utils import write_people

        print("bench: lfw7 not found, using two people made from package-shipped photos",
              file=sys.stderr)
        return ("package photos (astronaut, grace_hopper)",
                write_people(tmp / "train", 8, seed=0), write_people(tmp / "val", 4, seed=7))


def abuse_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench_web.py abuse",
                                 description="good requests with bad ones mixed in")
    ap.add_argument("--bad", type=int, default=1000, help="bad requests in the mixed phase")
    ap.add_argument("--clean", type=int, default=300, help="good requests before the abuse")
    ap.add_argument("--after", type=int, default=100, help="good requests after the abuse")
    ap.add_argument("--warm-up", type=int, default=64)
    ap.add_argument("--good-concurrency", type=int, default=2)
    ap.add_argument("--bad-concurrency", type=int, default=4)
    ap.add_argument("--model", help="model file (default: trained now on lfw7/train)")
    ap.add_argument("--big-side", type=int, default=7000,
                    help="side of the blank PNG under the pixel limit (0: leave that kind out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="web_abuse")
    ap.add_argument("--vary-sizes", type=int, default=0, metavar="N",
                    help="good photos: N copies of each validation photo, each resized to its "
                         "own random size (0.8x to 10x, aspect 0.8 to 1.25), so YuNet meets "
                         "many sizes")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-abuse-"))
    source, train_dir, val_dir = _abuse_data(tmp)
    photos = [(p.name, p.read_bytes(), p.parent.name) for p in sorted(val_dir.glob("*/*.jpg"))]
    if args.vary_sizes:
        photos = varied_sizes(photos, args.vary_sizes, args.seed)
    info = machine()
    model = args.model
    if not model:
        model = str(tmp / "abuse.lookalike")
        subprocess.run([*lookalike_cli(), "train", str(train_dir), "-o", model, "-q"],
                       check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, LOOKALIKE_CACHE_DIR=str(tmp / "cache"))
    log_path = tmp / "server.log"
    server, base, port = start_server(model, log_path, env)
    try:
        rss_started = rss_mb(server.pid)
        asyncio.run(good_load(base, photos, n=args.warm_up, concurrency=2))
        kinds = abuse_kinds(photos[0][1], big_side=args.big_side)
        print(f"server pid {server.pid}: RSS {rss_started:.0f} MB after start; {len(kinds)} "
              f"kinds of bad request", flush=True)
        res = asyncio.run(abuse_run(base, port, server.pid, photos, kinds, n_bad=args.bad,
                                    n_clean=args.clean, n_after=args.after,
                                    good_concurrency=args.good_concurrency,
                                    bad_concurrency=args.bad_concurrency, seed=args.seed))
        import httpx

        alive = httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        stop_server(server)
    problems = log_problems(log_path.read_text(errors="replace"))
    res = {k: v for k, v in res.items() if not k.startswith("_")}
    res["rss_mb"]["started"] = round(rss_started, 1)
    bad = res["bad"]
    growth = res["rss_growth_pct"]
    print(f"bad: {bad['requests']} requests, status {bad['status']}; 5xx {bad['errors_5xx']}; "
          f"non-JSON 4xx {len(bad['non_json_4xx'])}; protocol-level 400 "
          f"{bad['protocol_level_400']}; unexpected {bad['unexpected']}")
    print(f"good p50 {res['clean']['p50_ms']} -> {res['mixed']['p50_ms']} ms "
          f"(x{res['mixed_vs_clean']['p50_ratio']}), p95 {res['clean']['p95_ms']} -> "
          f"{res['mixed']['p95_ms']} ms (x{res['mixed_vs_clean']['p95_ratio']}); accuracy "
          f"{res['clean']['accuracy']} / {res['mixed']['accuracy']}; RSS {res['rss_mb']} "
          f"({growth:+.1f} %); server log problems {len(problems)}; alive {alive}; /healthz "
          f"during the abuse {res['healthz_during_abuse']}")
    result = {"machine": info, "photo_source": f"{source} validation photos ({len(photos)})",
              "model": "trained on the train folder" if not args.model else args.model,
              "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
              "args": vars(args), **res, "server_alive_at_end": alive,
              "server_log_problems": problems[:20],
              "targets": {"zero_5xx": bad["errors_5xx"] == 0,
                          "no_server_side_failures": bad["server_side_failures"] == 0,
                          "every_app_4xx_is_json": not bad["non_json_4xx"],
                          "answers_unchanged": not res["answers_changed"],
                          "rss_growth_under_10pct": growth < 10,
                          "no_tracebacks_in_log": not problems, "alive": alive,
                          "healthz_always_200": set(res["healthz_during_abuse"]["status"])
                          == {"200"}}}
    save(args.name, result)
    return 0 if all(result["targets"].values()) else 1


def varied_sizes(photos: list[tuple[str, bytes, str]], copies: int, seed: int
                 ) -> list[tuple[str, bytes, str]]:
    """``copies`` JPEGs of each photo, each resized to its own random size (0.8x to 10x, the
    aspect ratio changed by up to 1.25x), in a shuffled order."""
    from PIL import Image

    rng = random.Random(seed)
    out = []
    for name, data, person in photos:
        with Image.open(io.BytesIO(data)) as im:
            rgb = im.convert("RGB")
            for k in range(copies):
                scale, aspect = rng.uniform(0.8, 10), rng.uniform(0.8, 1.25)
                size = (round(rgb.width * scale * aspect), round(rgb.height * scale / aspect))
                buf = io.BytesIO()
                rgb.resize(size, Image.BILINEAR).save(buf, "JPEG", quality=90)
                out.append((f"{Path(name).stem}_{size[0]}x{size[1]}_{k}.jpg", buf.getvalue(),
                            person))
    rng.shuffle(out)
    return out


def main() -> int:
    if sys.argv[1:2] == ["abuse"]:
        return abuse_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--sequential", type=int, default=300,
                    help="requests sent one at a time for the service time")
    ap.add_argument("--model", help="model file (default: trained now on lfw7/train)")
    ap.add_argument("--name", default="web", help="results file results/NAME.json")
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
