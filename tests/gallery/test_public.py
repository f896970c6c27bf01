"""`lookalike gallery create G --from lfw`: a public-figure gallery in one command, from a data
home in scikit-learn's layout (a fake one made here; the real LFW when ../shared/data has it).
Nothing is ever downloaded."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from lookalike.models.gallery import Gallery
from tests.utils import CMD, SHARED_DATA, astronaut, encode, grace_hopper, variants

pytestmark = pytest.mark.slow  # LFW as a gallery in real processes (7-29 s a test under load 14)


def fake_home(root: Path) -> Path:
    """DATA_HOME/lfw_home/lfw_funneled/<Name>/<Name>_000N.jpg for three "public figures"."""
    lfw = root / "lfw_home" / "lfw_funneled"
    for name, face, n in (("Astro_Naut", astronaut(), 3), ("Grace_Hopper", grace_hopper(), 3),
                          ("Only_Once", astronaut(), 1)):
        (lfw / name).mkdir(parents=True)
        for i, v in enumerate(variants(face, n, seed=len(name))):
            (lfw / name / f"{name}_{i + 1:04d}.jpg").write_bytes(encode(v, quality=90))
    return root


def cli(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=600, cwd=cwd)


def test_one_command_gallery_from_a_data_home(tmp_path):
    home = fake_home(tmp_path / "skdata")
    g = tmp_path / "public.gallery"
    r = cli("gallery", "create", g, "--from", "lfw", "--data-home", home, "-q")
    assert r.returncode == 0, r.stderr
    assert "Enrolled 7 photo(s) of 3 people from lfw" in r.stdout
    with Gallery.open(g) as gal:
        assert gal.people() == [("Astro Naut", 3), ("Grace Hopper", 3), ("Only Once", 1)]
        probe = tmp_path / "me.jpg"
        probe.write_bytes(encode(variants(grace_hopper(), 1, seed=99)[0]))
        assert gal.search(probe).faces[0].ranking[0].person == "Grace Hopper"
        sources = {s for _, s in gal.store.photo_info(range(1, 20)).values()}
        assert "lfw/Grace_Hopper/Grace_Hopper_0001.jpg" in sources
    r = cli("gallery", "search", g, probe, "--top", "1")
    assert r.returncode == 0 and "Grace Hopper" in r.stdout, r.stdout + r.stderr
    # the same command again completes the gallery: nothing enrolled twice
    r = cli("gallery", "create", g, "--from", "lfw", "--data-home", home, "--json", "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert (rep["added"], rep["already_enrolled"]) == (0, 7)


def test_first_people_only_and_on_a_cluster(tmp_path):
    pytest.importorskip("distributed")
    home = fake_home(tmp_path / "skdata")
    g = tmp_path / "two.gallery"
    r = cli("gallery", "create", g, "--from", "lfw", "--data-home", home, "--people", "2",
            "--cluster", "local:1", "-q")
    assert r.returncode == 0, r.stderr
    with Gallery.open(g) as gal:
        assert [p for p, _ in gal.people()] == ["Astro Naut", "Grace Hopper"]


def test_missing_lfw_is_one_line_and_nothing_is_downloaded_or_created(tmp_path, monkeypatch):
    home = tmp_path / "nothing-here"
    r = cli("gallery", "create", tmp_path / "g", "--from", "lfw", "--data-home", home)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line, = r.stderr.strip().splitlines()
    assert "LFW not found" in line and "--download" in line and str(home) in line
    assert not home.exists() and not (tmp_path / "g").exists()
    # no --data-home: where `lookalike demo` looks, scikit-learn's data home among them
    env = dict(os.environ, SCIKIT_LEARN_DATA=str(fake_home(tmp_path / "sk")))
    env.pop("LOOKALIKE_DATA", None)
    env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve())  # still this source tree
                                        for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
    r = cli("gallery", "create", tmp_path / "g2", "--from", "lfw", "--people", "1", "-q",
            env=env, cwd=tmp_path)  # no ../shared/data from here
    assert r.returncode == 0 and "of 1 people" in r.stdout, r.stderr


def test_served_on_the_page(tmp_path):
    """The web page answers "which public figure?" from such a gallery."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from lookalike.models.gallery.public import create_from
    from lookalike.web.app import create_app

    g, rep = create_from(tmp_path / "p.gallery", "lfw", data_home=fake_home(tmp_path / "sk"),
                         progress=False)
    g.close()
    assert rep.added == 7
    buf = io.BytesIO()
    Image.fromarray(variants(astronaut(), 1, seed=7)[0]).save(buf, "JPEG")
    with TestClient(create_app(tmp_path / "p.gallery", warm_up=False)) as c:
        assert c.get("/api/people").json()["count"] == 3
        r = c.post("/api/predict", files={"photo": ("me.jpg", buf.getvalue(), "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.json()["faces"][0]["ranking"][0]["person"] in ("Astro Naut", "Only Once")


@pytest.mark.lfw
def test_real_lfw_first_people(tmp_path):
    if not (SHARED_DATA / "lfw_home" / "lfw_funneled").is_dir():
        pytest.skip(f"LFW not found at {SHARED_DATA}")
    g = tmp_path / "lfw.gallery"
    r = cli("gallery", "create", g, "--from", "lfw", "--data-home", SHARED_DATA, "--people", "4",
            "--json", "-q")
    assert r.returncode == 0, r.stderr
    first = sorted((SHARED_DATA / "lfw_home" / "lfw_funneled").iterdir())[:4]
    rep = json.loads(r.stdout)
    assert rep["added"] + len(rep["skipped"]) == sum(len(list(d.glob("*.jpg"))) for d in first)
    with Gallery.open(g) as gal:
        names = [p for p, _ in gal.people()]
        assert names == [d.name.replace("_", " ") for d in first][:len(names)]
        # a photo of someone enrolled finds them
        photo = sorted(first[1].glob("*.jpg"))[0]
        assert gal.search(photo).faces[0].ranking[0].person == first[1].name.replace("_", " ")
