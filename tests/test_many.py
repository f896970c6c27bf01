"""The one way to analyse many photos (lookalike.face.many): records per photo, errors as
values, each photo read and hashed once, and faces of several photos per SFace inference
giving the vectors of one photo at a time."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.face import many
from lookalike.face.batch import _Threads, batched_pipeline
from lookalike.face.many import Job, analyse, analyse_here, jobs_for
from lookalike.face.pipeline import FacePipeline
from tests.utils import astronaut, encode, grace_hopper, group_shot, variants


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Eight photos (one a two-face group shot), an empty file and a text file."""
    root = tmp_path_factory.mktemp("many")
    paths = []
    imgs = variants(astronaut(), 4, seed=1) + variants(grace_hopper(), 3, seed=2)
    imgs.append(group_shot([astronaut(), grace_hopper()], [300, 300]))
    for i, rgb in enumerate(imgs):
        p = root / f"p{i}.jpg"
        p.write_bytes(encode(rgb))
        paths.append(p)
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("not a photo")
    return paths, [root / "empty.jpg", root / "notes.jpg"]


@pytest.fixture(scope="module")
def pipe():
    return FacePipeline("sface", cache=False)


def test_batched_vectors_are_those_of_one_photo_at_a_time(photos, pipe):
    good, _ = photos
    one = list(analyse_here(jobs_for(good), pipe, batch=1))
    made = batched_pipeline(pipe, 4)
    assert made is not None
    together = list(_Threads(jobs_for(good), *made, lambda p, _k, j: many._one(p, j)).results())
    batcher = made[1]
    # the faces of several photos went through one inference
    assert batcher.inferences < len(good) and batcher.faces >= len(good)
    assert [r.task for r in together] == list(range(len(good)))  # input order
    for a, b in zip(one, together, strict=True):
        assert a.faces is not None and b.faces is not None
        assert a.digest == b.digest and len(a.faces.faces) == len(b.faces.faces) >= 1
        assert [f.box for f in a.faces.faces] == [f.box for f in b.faces.faces]
        np.testing.assert_allclose(a.faces.embeddings, b.faces.embeddings, atol=2e-5)


def test_errors_are_values_in_order(photos, pipe):
    good, bad = photos
    paths = [good[0], bad[0], good[1], bad[1], good[0].with_name("gone.jpg")]
    recs = list(analyse(jobs_for(paths), pipe, batch=3))
    assert [r.task for r in recs] == [0, 1, 2, 3, 4]
    assert [r.faces is not None for r in recs] == [True, False, True, False, False]
    assert all(r.error for r in recs if r.faces is None)
    assert "not found" in recs[4].error


def test_each_photo_is_read_and_hashed_once(photos, pipe, monkeypatch):
    good, _ = photos
    reads, hashes = [], []
    real_read, real_hash = many.read_bytes, many.content_hash
    monkeypatch.setattr(many, "read_bytes", lambda p: reads.append(p) or real_read(p))
    monkeypatch.setattr(many, "content_hash", lambda d: hashes.append(1) or real_hash(d))
    import lookalike.photos.images as images  # the pipeline's read_photo hashes there

    monkeypatch.setattr(images, "content_hash", lambda d: hashes.append(2) or real_hash(d))
    recs = list(analyse(jobs_for(good[:3]), pipe))  # read here: once each, hashed once each
    assert len(reads) == 3 and hashes == [1, 1, 1]
    reads.clear(), hashes.clear()
    data = [real_read(p) for p in good[:3]]
    given = [Job(i, str(p), real_hash(d), data=d) for i, (p, d) in enumerate(
        zip(good[:3], data, strict=True))]
    again = list(analyse(given, pipe))  # read and hashed by the caller: neither again
    assert reads == [] and hashes == []
    assert [r.digest for r in again] == [r.digest for r in recs]
    assert all(r.job.data is None for r in again)  # the bytes are not kept in the record


def test_a_photo_changed_since_it_was_listed_is_an_error(photos, pipe):
    good, _ = photos
    (rec,) = analyse([Job(0, str(good[0]), digest="0" * 32)], pipe)
    assert rec.faces is None and "changed" in rec.error


def test_first_only_and_group_shot(photos, pipe):
    good, _ = photos
    full, first = analyse([Job(0, str(good[-1])), Job(1, str(good[-1]), first_only=True)],
                          pipe)
    assert len(full.faces.faces) == 2 and len(first.faces.faces) == 1
    assert first.faces.n_faces == 2
    np.testing.assert_allclose(full.faces.embeddings[0], first.faces.embeddings[0], atol=2e-5)


@pytest.mark.slow  # 3.2 CPU-s (2 spawned workers); fast: test_gallery's parallel enrolment
def test_a_pool_gives_the_same_records(photos, pipe):
    good, bad = photos
    paths = [*good, *bad]
    here = {r.task: r for r in analyse(jobs_for(paths), pipe)}
    pooled = {r.task: r for r in analyse(jobs_for(paths), pipe, workers=2, batch=2)}
    assert sorted(pooled) == sorted(here)
    for t, r in here.items():
        assert (r.faces is None) == (pooled[t].faces is None)
        if r.faces is not None:
            np.testing.assert_allclose(r.faces.embeddings, pooled[t].faces.embeddings,
                                       atol=2e-5)
