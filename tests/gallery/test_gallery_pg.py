"""The gallery in PostgreSQL + pgvector, against a real server started from the pgserver wheel
(skipped, with the reason, when no server can be started)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lookalike.cli import main
from lookalike.models.gallery import Gallery, GalleryError
from tests.utils import Paused, astronaut, encode, grace_hopper, variants, write_people

pytestmark = pytest.mark.slow  # starts PostgreSQL (11-16 s a test under load 14)


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    return write_people(tmp_path_factory.mktemp("galpg") / "DATA", per_person=4)


def probe(tmp_path: Path, rgb: np.ndarray, seed: int) -> Path:
    p = tmp_path / f"probe{seed}.jpg"
    p.write_bytes(encode(variants(rgb, 1, seed=seed)[0], quality=85))
    return p


def test_pg_gallery_end_to_end(pg_uri, people, tmp_path, capsys):
    import psycopg

    db = ["--db", pg_uri]
    assert main(["gallery", "create", "celebs", *db]) == 0
    assert main(["gallery", "add", "celebs", str(people), "--workers", "1", "-q", *db]) == 0
    assert main(["gallery", "add", "celebs", str(people), "--workers", "1", "-q", "--json",
                 *db]) == 0
    rerun = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert rerun["added"] == 0 and rerun["already_enrolled"] == 8
    photo = probe(tmp_path, grace_hopper(), 7)
    assert main(["gallery", "search", "celebs", str(photo), "--json", *db]) == 0
    doc = json.loads(capsys.readouterr().out)
    top = doc["photos"][0]["faces"][0]["ranking"][0]
    assert top["person"] == "grace_hopper" and top["probability"] > 0.9
    assert "grace_hopper" in top["best_photo"]["source"]
    # `lookalike predict` takes the database gallery where it takes a model
    assert main(["predict", f"{pg_uri}#celebs", str(photo), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["photos"][0]["faces"][0]["ranking"][0]["person"] == "grace_hopper"

    # the embedded gallery gives the same ranking and similarities
    local = Gallery.create(tmp_path / "local.gallery")
    local.add_folder(people, workers=1, progress=False)
    lr = local.search(photo).faces[0].ranking
    pr = Gallery.open(f"{pg_uri}#celebs").search(photo).faces[0].ranking
    assert [m.person for m in lr] == [m.person for m in pr]
    np.testing.assert_allclose([m.similarity for m in lr], [m.similarity for m in pr],
                               atol=1e-4)

    # remove: no row anywhere in the gallery's schema mentions her or holds her vectors
    g = Gallery.open(f"{pg_uri}#celebs")
    vecs = g.store.person_vectors("grace_hopper")
    assert len(vecs) == 4
    g.close()
    assert main(["gallery", "remove", "celebs", "grace_hopper", *db]) == 0
    with psycopg.connect(pg_uri) as conn:
        for table in ("people", "photos", "skipped", "meta"):
            rows = conn.execute(f"SELECT t::text FROM lkg_celebs.{table} t").fetchall()
            assert not any("grace" in r[0].lower() for r in rows), table
        n = conn.execute("SELECT COUNT(*) FROM lkg_celebs.photos").fetchone()[0]
        assert n == 4
    g = Gallery.open(f"{pg_uri}#celebs")
    D, ids = g.store.search(vecs, 4)
    assert (D < 0.99).all()  # none of her vectors is found any more
    assert [p for p, _ in g.people()] == ["astronaut"]
    assert g.check() == []
    assert g.search(probe(tmp_path, astronaut(), 3)).faces[0].top.person == "astronaut"
    g.store.drop()
    g.close()


def test_pg_errors_are_one_line(pg_uri, capsys):
    assert main(["gallery", "list", "nosuch", "--db", pg_uri]) == 2
    assert "no gallery named 'nosuch'" in capsys.readouterr().err
    assert main(["gallery", "list", "x", "--db", "postgresql://nobody@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL" in err and "Traceback" not in err
    with pytest.raises(GalleryError, match="not usable"):
        Gallery.open(f"{pg_uri}#Bad-Name")


def test_kill_9_mid_enrolment_rolls_back_and_the_rerun_completes(pg_uri, people, tmp_path,
                                                                  capsys):
    """``kill -9`` of a real `lookalike gallery add --db` process inside its batch's
    transaction (rows inserted, not committed): the gallery answers as before, `check` finds
    nothing wrong, and the same command run again enrols everyone."""
    db = ["--db", pg_uri]
    more = write_people(tmp_path / "MORE", per_person=3, seed=5)
    for d in list(more.iterdir()):
        d.rename(more / f"{d.name}_b")
    assert main(["gallery", "create", "k9", *db]) == 0
    assert main(["gallery", "add", "k9", str(people), "--workers", "1", "-q", *db]) == 0
    photo = probe(tmp_path, astronaut(), 11)
    before = Gallery.open(f"{pg_uri}#k9")
    people_before, ranking_before = before.people(), before.search(photo).faces[0].ranking
    before.close()

    env = dict(os.environ, LOOKALIKE_PROGRESS="0")
    Paused(["gallery", "add", "k9", more, "--workers", "1", "-q", *db], env, "gallery-batch",
           tmp_path, wait=180).kill()

    g = Gallery.open(f"{pg_uri}#k9")
    assert g.people() == people_before
    after = g.search(photo).faces[0].ranking
    assert [(m.person, round(m.similarity, 5)) for m in after] == [
        (m.person, round(m.similarity, 5)) for m in ranking_before]
    assert g.check() == []
    g.close()

    assert main(["gallery", "add", "k9", str(more), "--workers", "1", "-q", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["added"] == 6
    g = Gallery.open(f"{pg_uri}#k9")
    assert dict(g.people()) == {"astronaut": 4, "grace_hopper": 4, "astronaut_b": 3,
                                "grace_hopper_b": 3}
    assert g.check() == []
    g.store.drop()
    g.close()
