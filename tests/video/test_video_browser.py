"""The page's live look-alike in a real browser: Chromium's fake camera plays frames made from
the astronaut photo; the page sends them to /api/live, draws the boxes and names, and
"Download picture" saves the moment. Skips when /usr/bin/chromium or playwright is missing."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.utils import astronaut

CHROMIUM = Path(os.environ.get("LOOKALIKE_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright not installed (lookalike[web-test])")
pytest.importorskip("uvicorn", reason="uvicorn not installed (lookalike[web])")

import uvicorn  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from lookalike.video.synth import _paste, background  # noqa: E402
from lookalike.web.app import create_app  # noqa: E402

pytestmark = pytest.mark.slow  # a real browser (playwright)


def fake_camera(path: Path, seconds: float = 4.0, fps: int = 15) -> Path:
    """A Y4M file (what Chromium's fake camera plays, in a loop): the astronaut swaying."""
    import cv2

    back = background((640, 480), 2)
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(int(seconds * fps)):
            frame = back.copy()
            _paste(frame, astronaut(), 0.45 + 0.08 * np.sin(i / fps), 0.5, 0.6)
            fh.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def server(trained):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(trained[2]), host="127.0.0.1", port=port,
                                        log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_live_mode_names_the_face_and_downloads_the_moment(server, tmp_path):
    cam = fake_camera(tmp_path / "cam.y4m")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={cam}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        ctx = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
        page = ctx.new_page()
        page.goto(server + "/")
        page.click("#cam-start")
        expect(page.locator("#live-start")).to_be_visible(timeout=20_000)
        page.click("#live-start")
        expect(page.locator("#live-boxes")).to_have_attribute(
            "aria-label", __import__("re").compile(r"Faces: astronaut \d+ %"), timeout=30_000)
        expect(page.locator("#live-stats")).to_contain_text("answers/s", timeout=10_000)
        page.wait_for_timeout(1500)
        stats = page.locator("#live-stats").inner_text()
        keep = os.environ.get("LOOKALIKE_SCREENSHOTS")
        if keep:
            page.locator(".camera").screenshot(path=str(Path(keep) / "page-live.png"))
        with page.expect_download() as dl:
            page.click("#live-download")
        saved = tmp_path / "moment.png"
        dl.value.save_as(saved)
        assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and saved.stat().st_size > 20_000
        page.click("#live-stop")
        expect(page.locator("#live-boxes")).to_be_hidden()
        expect(page.locator("#live-start")).to_be_visible()
        browser.close()
    rate = float(stats.split("Live: ")[1].split(" answers/s")[0])
    # frames keep flowing (speed is measured in bench/studies/video/bench_video.py)
    assert rate > 1.0, stats
