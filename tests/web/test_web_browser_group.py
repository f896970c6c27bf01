"""The page's "Who is in these photos?" in a real browser (fixtures and skips of
test_web_browser.py: Playwright driving Debian's Chromium against a local uvicorn)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_web_browser import browser, expect, page, server  # noqa: F401  (fixtures; skips)

from tests.utils import astronaut, encode, grace_hopper, group_shot, variants

pytestmark = pytest.mark.slow  # a real browser (playwright)


def test_drop_many_photos_see_the_people_download_groups_json(page, server, tmp_path):  # noqa: F811
    files = []
    for i, v in enumerate(variants(astronaut(), 3, seed=2)):
        files.append(tmp_path / f"a{i}.jpg")
        files[-1].write_bytes(encode(v))
    for i, v in enumerate(variants(grace_hopper(), 3, seed=2)):
        files.append(tmp_path / f"g{i}.jpg")
        files[-1].write_bytes(encode(v))
    files.append(tmp_path / "both.jpg")
    files[-1].write_bytes(encode(group_shot([astronaut(), grace_hopper()], [300, 300])))
    page.set_input_files("#group-file", [str(f) for f in files])
    people = page.locator("#group-list .group-person")
    expect(people).to_have_count(2, timeout=60_000)
    expect(page.locator("#group-summary")).to_contain_text("2 people")
    for k in range(2):
        assert people.nth(k).locator("img").count() == 4  # 3 photos + the group shot
    page.wait_for_function("() => [...document.querySelectorAll('#group-list img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    with page.expect_download() as dl:
        page.click("#group-download")
    saved = tmp_path / "groups.json"
    dl.value.save_as(saved)
    doc = json.loads(saved.read_text())
    assert len(doc["groups"]) == 2 and "thumb" not in doc["groups"][0]["faces"][0]
    shot = tmp_path / "page-group.png"
    page.screenshot(path=str(shot), full_page=True)
    keep = os.environ.get("LOOKALIKE_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
    assert all(url.startswith(server) or url.startswith("blob:") or url.startswith("data:")
               for url in page.requests), page.requests
