"""The page in a real browser: Playwright (Python) driving Debian's Chromium against a local
uvicorn server. Skips, saying why, when /usr/bin/chromium or playwright is missing
(``.ci/run`` installs Chromium; Playwright's own browser download is never used)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.utils import astronaut, encode, grace_hopper, group_shot, variants

CHROMIUM = Path(os.environ.get("LOOKALIKE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright not installed (lookalike[web-test])")
pytest.importorskip("uvicorn", reason="uvicorn not installed (lookalike[web])")

import uvicorn  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from lookalike.web.app import create_app  # noqa: E402

pytestmark = pytest.mark.slow  # a real browser (playwright)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained):
    port = _free_port()
    config = uvicorn.Config(create_app(trained[2]), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = ctx.new_page()
    pg.requests = []  # every URL the page asks for
    pg.on("request", lambda req: pg.requests.append(req.url))
    pg.goto(server + "/")
    expect(pg.locator("#known")).to_contain_text("Knows 2 people")
    yield pg
    ctx.close()


def _files(tmp_path: Path, *named_images) -> list[str]:
    paths = []
    for name, rgb in named_images:
        p = tmp_path / name
        p.write_bytes(encode(rgb, "PNG" if name.endswith(".png") else "JPEG"))
        paths.append(str(p))
    return paths


def _ranking(pg, selector: str = "#ranking") -> list[tuple[str, str]]:
    rows = pg.locator(f"{selector} li")
    return [(rows.nth(i).locator(".person").inner_text(), rows.nth(i).locator(".pct").inner_text())
            for i in range(rows.count())]


def test_upload_a_photo_read_the_ranking_and_screenshot(page, server, tmp_path):
    photo = _files(tmp_path, ("astronaut.jpg", variants(astronaut(), 1, seed=3)[0]))
    page.set_input_files("#file", photo)
    expect(page.locator("#ranking li").first).to_be_visible(timeout=30_000)
    ranking = _ranking(page)
    assert ranking[0][0] == "astronaut"
    assert {r[0] for r in ranking} == {"astronaut", "grace hopper"}
    pcts = [float(p.replace("<", "").replace("%", "").strip()) for _, p in ranking]
    assert pcts[0] > 50 and pcts == sorted(pcts, reverse=True)
    expect(page.locator("#answer-title")).to_have_text("Looks most like astronaut")
    assert page.locator("#boxes .box").count() == 1
    # the closest training photo of the top match is shown (loaded, not broken)
    thumb = page.locator("#ranking li .thumb").first
    expect(thumb).to_have_attribute("src", __import__("re").compile(r"^/api/thumbs/\d+$"))
    page.wait_for_function("() => { const i = document.querySelector('#ranking li img.thumb');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    shot = tmp_path / "page-ranking.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("LOOKALIKE_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
    assert all(url.startswith(server) or url.startswith("blob:") for url in page.requests), \
        page.requests


def test_a_bad_upload_shows_the_error_on_the_page(page, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("these are notes, not a photo")
    page.set_input_files("#file", str(bad))
    error = page.locator("#error")
    expect(error).to_be_visible(timeout=30_000)
    expect(error).to_contain_text("notes.jpg is not an image")
    assert page.locator("#result").is_hidden()
    faceless = _files(tmp_path, ("rocket.jpg", __import__("skimage.data").data.rocket()))
    page.set_input_files("#file", faceless)
    expect(error).to_contain_text("no face found in rocket.jpg", timeout=30_000)


def test_group_shot_boxes_are_clickable_and_keyboard_usable(page, tmp_path):
    # Tab reaches the two modes first, then the file chooser, then the webcam button
    for expected in ("mode-predict", "mode-compare", "file"):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == expected
    if page.locator("#cam-start").is_enabled():
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "cam-start"
    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                     [150, 260])
    page.set_input_files("#file", _files(tmp_path, ("group.png", img)))
    boxes = page.locator("#boxes .box")
    expect(boxes).to_have_count(2, timeout=30_000)
    first = _ranking(page)[0][0]
    boxes.nth(1).click()
    expect(page.locator("#answer-title")).to_contain_text("Face 2 looks most like")
    second = _ranking(page)[0][0]
    assert {first, second} == {"astronaut", "grace hopper"}
    # keyboard: arrow keys move between faces, the selected box is announced as pressed
    boxes.nth(1).focus()
    page.keyboard.press("ArrowLeft")
    expect(boxes.nth(0)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#answer-title")).to_contain_text("Face 1 looks most like")
    assert _ranking(page)[0][0] == first
    page.screenshot(path=str(tmp_path / "page-group.png"), full_page=True)


def test_several_photos_show_a_combined_verdict(page, tmp_path):
    photos = _files(tmp_path, *[(f"gh{i}.jpg", v)
                                for i, v in enumerate(variants(grace_hopper(), 3, seed=11))])
    page.set_input_files("#file", photos)
    expect(page.locator("#verdict")).to_be_visible(timeout=30_000)
    expect(page.locator("#verdict-title")).to_contain_text(
        "Together (3 of 3 photos with a face): grace hopper")
    assert _ranking(page, "#verdict-ranking")[0][0] == "grace hopper"
    expect(page.locator("#photos .photo-tab")).to_have_count(3)
    page.screenshot(path=str(tmp_path / "page-verdict.png"), full_page=True)


def test_phone_width_has_no_sideways_scrolling_and_the_webcam_fails_gently(browser, server,
                                                                           tmp_path):
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                              has_touch=True)
    pg = ctx.new_page()
    try:
        pg.goto(server + "/")
        pg.set_input_files("#file", _files(tmp_path, ("a.jpg", astronaut())))
        expect(pg.locator("#ranking li").first).to_be_visible(timeout=30_000)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375
        box = pg.locator("#photo").bounding_box()
        assert box and box["width"] <= 375
        pg.screenshot(path=str(tmp_path / "page-phone.png"), full_page=True)
        # No camera in a headless browser: the button is disabled or says it failed, on the page.
        cam = pg.locator("#cam-start")
        if cam.is_enabled():
            cam.click()
            expect(pg.locator("#error")).to_contain_text("webcam", timeout=10_000)
        else:
            expect(cam).to_contain_text("not available")
    finally:
        ctx.close()


def test_a_stranger_is_shown_plainly_as_none_of_these(page, tmp_path):
    import numpy as np
    from skimage import data

    cameraman = np.stack([data.camera()] * 3, axis=-1)  # a face the model does not know
    page.set_input_files("#file", _files(tmp_path, ("cameraman.jpg", cameraman)))
    none = page.locator("#none")
    expect(none).to_be_visible(timeout=30_000)
    expect(none).to_contain_text("None of these")
    expect(page.locator("#answer-title")).to_contain_text("none of these (closest: ")
    assert len(_ranking(page)) == 2  # the bars still say whom the face resembles most
    page.screenshot(path=str(tmp_path / "page-none.png"), full_page=True)


def test_why_the_face_looks_alike_parts_on_both_faces(page, tmp_path):
    """The page asks for why=3: the top match's parts are listed; hovering or tapping a part
    outlines it on both faces; compare mode with a third photo ranks the candidates."""
    photo = _files(tmp_path, ("astronaut.jpg", variants(astronaut(), 1, seed=3)[0]))
    page.set_input_files("#file", photo)
    parts = page.locator("#why .why-part")
    expect(parts.first).to_be_visible(timeout=30_000)
    assert parts.count() == 4
    expect(page.locator("#why .why-title")).to_contain_text("Why alike: mostly")
    names = {parts.nth(i).get_attribute("data-part") for i in range(4)}
    assert names == {"eyes", "nose", "mouth", "outline"}
    shares = [float(parts.nth(i).locator(".why-part-pct").inner_text().rstrip(" %"))
              for i in range(4)]
    assert shares == sorted(shares, reverse=True) and 95 <= sum(shares) <= 105
    canvases = page.locator("#why canvas.why-canvas")
    assert canvases.count() == 2
    page.wait_for_function("() => [...document.querySelectorAll('#why canvas')].every(c => "
                           "c.getContext('2d').getImageData(75, 75, 1, 1).data[3] > 0)")
    first = parts.first.get_attribute("data-part")
    parts.first.hover()
    for i in range(2):
        expect(canvases.nth(i)).to_have_attribute("data-highlight", first)
    page.mouse.move(5, 5)
    expect(canvases.first).to_have_attribute("data-highlight", "")
    parts.nth(2).click()  # a tap shows the part too
    expect(canvases.nth(1)).to_have_attribute("data-highlight",
                                              parts.nth(2).get_attribute("data-part"))
    keep = os.environ.get("LOOKALIKE_SCREENSHOTS")
    if keep:
        page.screenshot(path=str(Path(keep) / "page-why.png"), full_page=True)
    # another match: tap it to see why it is alike
    page.locator("#ranking li.has-why").nth(1).click()
    expect(page.locator("#why figcaption").nth(1)).to_contain_text("grace hopper")

    page.click("#mode-compare")
    a1, a2 = variants(astronaut(), 2, seed=8)
    files = _files(tmp_path, ("me.jpg", a1), ("grace.jpg", grace_hopper()), ("astro.jpg", a2))
    page.set_input_files("#file-a", files[0])
    page.set_input_files("#file-b", files[1])
    expect(page.locator("#compare-why .why-part").first).to_be_visible(timeout=30_000)
    page.set_input_files("#file-more", files[2])
    expect(page.locator("#many-title")).to_have_text("me.jpg looks most like astro.jpg",
                                                     timeout=30_000)
    assert page.locator("#many-ranking li").count() == 2
    expect(page.locator("#many-why .why-part").first).to_be_visible()
    if keep:
        page.screenshot(path=str(Path(keep) / "page-compare-many.png"), full_page=True)
