import json
import zipfile

import numpy as np
import pytest

import lookalike
from lookalike.errors import DatasetError, ModelError
from lookalike.models.model import Model, atomic_write, load
from lookalike.models.train import train
from tests.utils import astronaut, encode, grace_hopper, group_shot, variants


def test_train_learns_two_real_people(trained):
    model, report, path = trained
    assert report.people == ["astronaut", "grace_hopper"]
    assert report.metrics["accuracy"] == 1.0 and report.metrics["validation_photos"] >= 2
    assert 0 <= report.metrics["ece"] <= 0.5
    m = model.manifest
    for key in ("labels", "embedder", "head", "threshold", "split", "metrics",
                "data_fingerprint", "lookalike_version"):
        assert key in m
    assert m["embedder"]["name"] == "sface" and m["split"]["layout"] == "person-folders"


def test_saved_model_answers_like_the_original(trained, tmp_path):
    model, _, path = trained
    again = lookalike.load(path)
    photo = encode(variants(grace_hopper(), 1, seed=42)[0])
    a, b = model.predict(photo), again.predict(photo)
    assert a.faces[0].top.person == b.faces[0].top.person == "grace_hopper"
    assert np.allclose(a.faces[0].proba, b.faces[0].proba, atol=1e-6)
    assert not a.faces[0].unknown
    assert again.thumbnail(0)[:2] == b"\xff\xd8"  # a JPEG thumbnail of a training face


def test_stranger_is_unknown_but_still_ranked(trained):
    model, _, _ = trained
    from lookalike.face.detector import FaceDetector

    # An embedding unlike every training photo (the opposite of one) stands for a stranger.
    res = model.face_results(FaceDetector().detect(astronaut())[:1], -model.train_embeddings[:1])
    assert res[0].unknown and res[0].best_similarity < model.threshold
    assert len(res[0].ranking) == 2
    assert sum(m.probability for m in res[0].ranking) == pytest.approx(1.0)


def test_group_shot_ranks_every_face(trained):
    model, _, _ = trained
    img = group_shot([astronaut()[30:230, 140:310], grace_hopper()[60:400, 120:400]], [180, 240])
    result = model.predict(encode(img), all_faces=True)
    people = {f.top.person for f in result.faces}
    assert people == {"astronaut", "grace_hopper"}
    assert len(model.predict(encode(img)).faces) == 1  # default: the most prominent face


def test_training_face_choice_uses_agreement(tmp_path):
    root = tmp_path / "DATA"
    for i, v in enumerate(variants(astronaut(), 4)):
        (root / "astronaut").mkdir(parents=True, exist_ok=True)
        (root / "astronaut" / f"{i}.jpg").write_bytes(encode(v))
    # a photo of the astronaut beside a bigger Grace Hopper
    shot = group_shot([astronaut()[30:230, 140:310], grace_hopper()[60:400, 120:400]], [150, 260])
    (root / "astronaut" / "with_fan.jpg").write_bytes(encode(shot))
    for i, v in enumerate(variants(grace_hopper(), 3)):
        (root / "grace_hopper").mkdir(parents=True, exist_ok=True)
        (root / "grace_hopper" / f"{i}.jpg").write_bytes(encode(v))
    model, report = train(root, validation_fraction=0.0, progress=False)
    idx = model.manifest["train_photos"].index("astronaut/with_fan.jpg")
    # the chosen face's embedding agrees with the astronaut, not with the bigger face
    assert model.train_embeddings[idx] @ model.head.centroids[0] > 0.5


def test_bad_files_are_skipped_and_reported(tmp_path):
    root = tmp_path / "DATA"
    for name, img in (("a", astronaut()), ("b", grace_hopper())):
        (root / name).mkdir(parents=True)
        for i, v in enumerate(variants(img, 3)):
            (root / name / f"{i}.jpg").write_bytes(encode(v))
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "a" / "text.png").write_bytes(b"hello")
    (root / "a" / "blank.png").write_bytes(encode(np.full((64, 64, 3), 200, np.uint8), "PNG"))
    (root / "b" / "dup.jpg").write_bytes((root / "a" / "0.jpg").read_bytes())
    (root / "c").mkdir()
    (root / "c" / "only.jpg").write_bytes(encode(variants(astronaut(), 1, seed=9)[0]))
    model, report = train(root, progress=False)
    skipped = dict(report.skipped)
    assert "empty" in skipped["a/empty.jpg"] and "not an image" in skipped["a/text.png"]
    assert "no face" in skipped["a/blank.png"]
    assert any("filed under 2 people" in w for w in report.warnings)
    assert any(w.startswith("c: only 1") for w in report.warnings)


def test_crops_mode_uses_the_whole_image(tmp_path):
    root = tmp_path / "DATA"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(encode(np.full((64, 64, 3), 90, np.uint8), "PNG"))
    with pytest.raises(DatasetError, match="no usable"):
        train(root, progress=False)
    model, report = train(root, crops=True, progress=False)
    assert report.skipped == [] and model.labels == ["a"]


def test_leakage_between_train_and_validation_is_warned(tmp_path):
    for subset in ("train", "validation"):
        for name, img in (("a", astronaut()), ("b", grace_hopper())):
            (tmp_path / subset / name).mkdir(parents=True)
            for i, v in enumerate(variants(img, 2, seed=0 if subset == "train" else 5)):
                (tmp_path / subset / name / f"{i}.jpg").write_bytes(encode(v))
    (tmp_path / "validation" / "a" / "leak.jpg").write_bytes(
        (tmp_path / "train" / "a" / "0.jpg").read_bytes())
    model, report = train(tmp_path, progress=False)
    assert any(w.startswith("leakage") for w in report.warnings)
    assert report.metrics["validation_photos"] == 4


def test_atomic_save_keeps_the_old_model_on_failure(trained, tmp_path):
    model, _, path = trained
    target = tmp_path / "m.lookalike"
    target.write_bytes(path.read_bytes())
    before = target.read_bytes()

    def explode(fh):
        fh.write(b"half a model")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, explode)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.lookalike"]  # no temp file left
    import os
    import stat

    old_umask = os.umask(0o022)
    try:
        model.save(target)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # the umask's mode, not mkstemp's 0600
    with pytest.raises(ModelError, match="is a folder"):
        model.save(tmp_path)


def _with_manifest(path, out, change):
    """A copy of the model file at ``path`` whose manifest ``change(manifest)`` edited."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    return out


def test_damaged_and_foreign_model_files(trained, tmp_path):
    _, _, path = trained
    bad = tmp_path / "bad.lookalike"
    bad.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ModelError, match="damaged"):
        load(bad)
    with pytest.raises(ModelError, match="not found"):
        load(tmp_path / "none.lookalike")
    with pytest.raises(ModelError, match="folder"):
        load(tmp_path)
    future = _with_manifest(path, tmp_path / "future.lookalike",
                            lambda m: m.update(format_version=99))
    with pytest.raises(ModelError, match="format 99"):
        load(future)
    assert isinstance(load(path), Model)


def test_cache_makes_the_second_analysis_free(tmp_path, monkeypatch):
    from lookalike.cache import ArrayCache
    from lookalike.face.pipeline import FacePipeline

    pipe = FacePipeline("sface", cache=ArrayCache(tmp_path / "cache", enabled=True))
    photo = encode(astronaut())
    first = pipe.analyze(photo)
    monkeypatch.setattr(pipe.detector, "detect", lambda *_: pytest.fail("not cached"))
    second = pipe.analyze(photo)
    assert np.allclose(first.embeddings, second.embeddings)
    assert second.faces[0].box == pytest.approx(first.faces[0].box)
    assert second.thumbs == first.thumbs


def test_cached_faces_come_back_as_stored_each_record_whole(tmp_path, monkeypatch):
    """The face order is decided once, when the photo is analysed: a cached analysis comes
    back in the stored order without ordering again (and without the detector), each face
    with its own embedding, thumbnail, raw box and quality. Entries of the earlier format
    (ordered again on every read) sit under another key and simply miss."""
    from lookalike.cache import ArrayCache
    from lookalike.face import choose
    from lookalike.face.pipeline import FacePipeline

    cache = ArrayCache(tmp_path / "cache", enabled=True)
    pipe = FacePipeline("sface", cache=cache)
    photo = encode(group_shot([astronaut()[40:220, 150:300], grace_hopper()[80:380, 150:380]],
                              [150, 260]))
    fresh = pipe.analyze(photo)
    assert len(fresh.faces) == 2 and "|rec=2" in pipe.key

    def refuse(*a, **k):
        raise AssertionError("a cached analysis is not detected or ordered again")

    monkeypatch.setattr(pipe.detector, "find", refuse)
    monkeypatch.setattr(choose, "_keys", refuse)
    again = pipe.analyze(photo)
    np.testing.assert_allclose([f.box for f in again.faces], [f.box for f in fresh.faces],
                               atol=1e-3)
    assert [f.raw_box for f in again.faces] == [f.raw_box for f in fresh.faces]
    assert [f.quality for f in again.faces] == [
        None if f.quality is None else pytest.approx(f.quality, abs=1e-4) for f in fresh.faces]
    for f, g in zip(again.faces, fresh.faces, strict=True):
        np.testing.assert_allclose(f.embedding, g.embedding, atol=1e-6)
        assert f.thumbnail == g.thumbnail
    np.testing.assert_allclose(again.embeddings, fresh.embeddings, atol=1e-6)
    assert again.thumbs == fresh.thumbs
    # the same photo under the earlier key is not this cache's entry
    old = pipe.key.replace("|rec=2", "")
    digest = fresh.digest
    assert cache.get(f"{digest}|{old}") is None and cache.get(f"{digest}|{pipe.key}") is not None


def test_read_only_cache_degrades_with_a_warning(tmp_path):
    from lookalike.cache import ArrayCache

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cache = ArrayCache(ro / "sub", enabled=True)
    import os

    if os.geteuid() == 0:  # root ignores permissions; use a path under a file instead
        (tmp_path / "file").write_text("x")
        cache = ArrayCache(tmp_path / "file" / "sub", enabled=True)
    with pytest.warns(UserWarning, match="cache off"):
        cache.put("k", {"a": np.zeros(2)})
    assert cache.get("k") is None and not cache.enabled


def test_boxes_are_in_the_photos_own_pixels_when_it_is_decoded_smaller(trained):
    from PIL import Image

    model, _, _ = trained
    small = variants(grace_hopper(), 1, seed=3)[0]
    big = np.asarray(Image.fromarray(small).resize((small.shape[1] * 4, small.shape[0] * 4)))
    a, b = model.predict(encode(small)), model.predict(encode(big))
    assert b.image_size == (big.shape[1], big.shape[0]) and max(big.shape) > 1600
    assert np.allclose(np.array(b.faces[0].face.box) / 4, a.faces[0].face.box, rtol=0.05, atol=3)


@pytest.mark.slow  # 2.7 CPU-s (a 12 MP photo); fast: tests/test_big_photos.py
def test_big_photos_decode_at_the_detectors_draft_scale(monkeypatch):
    """A 12 MP JPEG decodes once at 1/4 (the detector's 640 px), and a second time at 1/2
    only when the face is too small there for SFace's crop (face/pixels.py)."""
    from PIL import Image

    import lookalike.face.pipeline as pl
    import lookalike.face.pixels as px

    calls = []
    real = px.decode_photo

    def spy(data, **kw):
        rgb, full = real(data, **kw)
        calls.append(max(rgb.shape[:2]))
        return rgb, full

    monkeypatch.setattr(px, "decode_photo", spy)
    pipe = pl.FacePipeline("sface", cache=False)
    face = Image.fromarray(grace_hopper())
    for side in (2400, 500, 250):  # face ~1000 / ~200 / ~100 px wide in 12 MP
        canvas = Image.new("RGB", (4000, 3000), (120, 130, 140))
        canvas.paste(face.resize((side, int(side * 600 / 512))), (300, 200))
        calls.clear()
        res = pipe.analyze(encode(np.asarray(canvas), quality=90), first_only=True)
        assert res.image_size == (4000, 3000) and len(res.faces) == 1
        small = px.eye_distance(res.faces[0]) / 4 < px.EYES_NEED
        assert calls == ([1000, 2000] if small else [1000])  # 1/4, then 1/2 if needed
        assert small == (side == 250) or side == 500
        x, y, w, h = res.faces[0].box
        assert 300 < x < 300 + side and w > side * 0.2  # in the photo's own pixels


def test_a_model_from_another_embedder_version_says_so(trained, tmp_path):
    _, _, path = trained
    other = _with_manifest(path, tmp_path / "other.lookalike",
                           lambda m: m["embedder"].update(version="1999"))
    with pytest.raises(ModelError, match="trained with embedder sface 1999.*retrain"):
        load(other).predict(encode(astronaut()))
