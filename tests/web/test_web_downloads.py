"""The page in a real browser: compare two photos, and download the pictures (cards drawn by
the server). Same set-up as test_web_browser.py (Debian's Chromium + Playwright), whose
fixtures it uses; skipped the same way when they are missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect  # noqa: E402 - after the skips of test_web_browser
from test_web_browser import _files, browser, page, server  # noqa: F401 - fixtures

from tests.utils import astronaut, grace_hopper, group_shot, variants


def _keep(shot: Path) -> None:
    keep = os.environ.get("LOOKALIKE_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)


def test_download_the_card_of_the_selected_face(page, trained, tmp_path):  # noqa: F811
    from lookalike.pictures.cards import render_card

    img = group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                     [150, 260])
    (photo,) = _files(tmp_path, ("group.png", img))
    page.set_input_files("#file", photo)
    boxes = page.locator("#boxes .box")
    expect(boxes).to_have_count(2, timeout=30_000)
    boxes.nth(1).click()
    with page.expect_download(timeout=60_000) as info:
        page.click("#card-download")
    saved = tmp_path / "downloaded.png"
    info.value.save_as(saved)
    assert info.value.suggested_filename == "lookalike-group.png"
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same card as `predict --card` makes for that face alone
    model = trained[0]
    result = model.predict(photo, all_faces=True)
    from dataclasses import replace

    expected = render_card(model, [replace(result, faces=[result.faces[1]])],
                           tmp_path / "expected.png", top=5)
    with Image.open(saved) as im:
        assert im.format == "PNG" and im.size == expected.size


def test_compare_two_photos_and_download_the_picture(page, tmp_path):  # noqa: F811
    a1, a2 = variants(astronaut(), 2, seed=8)
    pa, pb, pg = _files(tmp_path, ("astro1.jpg", a1), ("astro2.jpg", a2),
                        ("hopper.jpg", grace_hopper()))
    page.click("#mode-compare")
    expect(page.locator("#compare")).to_be_visible()
    assert page.locator("#input").is_hidden()
    page.set_input_files("#file-a", pa)
    page.set_input_files("#file-b", pb)
    expect(page.locator("#compare-title")).to_have_text("Same person", timeout=30_000)
    expect(page.locator("#compare-detail")).to_contain_text("Similarity")
    expect(page.locator("#box-a .box")).to_have_count(1)
    shot = tmp_path / "page-compare.png"
    page.screenshot(path=str(shot), full_page=True)
    _keep(shot)
    with page.expect_download(timeout=60_000) as info:
        page.click("#compare-download")
    saved = tmp_path / "compare.png"
    info.value.save_as(saved)
    with Image.open(saved) as im:
        assert im.format == "PNG" and im.size == (890, 525)  # compare_card's size
    page.set_input_files("#file-b", pg)
    expect(page.locator("#compare-title")).to_have_text("Not the same person",
                                                        timeout=30_000)
    # a photo without a face: the error names it
    (blank,) = _files(tmp_path, ("wall.png", __import__("numpy").full((200, 200, 3), 90,
                                                                     "uint8")))
    page.set_input_files("#file-b", blank)
    expect(page.locator("#compare-error")).to_contain_text("no face found in wall.png",
                                                           timeout=30_000)
    # back to the look-alike mode
    page.click("#mode-predict")
    expect(page.locator("#input")).to_be_visible()
    assert page.locator("#compare").is_hidden()


# slow: a real browser (playwright)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.slow]
