"""Evaluation and training reports: pictures render, the HTML page's links resolve to files in
the report folder, nothing is fetched from the network, every misclassified photo is shown."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import astronaut, encode, variants
from PIL import Image

pytest.importorskip("matplotlib")


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        rgb = np.asarray(im.convert("RGB"))
    assert rgb.shape[0] >= 200 and rgb.shape[1] >= 200
    assert rgb.std() > 15  # not blank
    return rgb


def _links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", text)


def _check_offline_page(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "</html>" in text
    assert "http://" not in text and "https://" not in text and "<script" not in text
    links = _links(page)
    for link in links:
        assert not link.startswith("/") and ".." not in link, link
        target = (page.parent / link).resolve()
        assert target.is_file(), link
        assert page.parent.resolve() in target.parents
    return links


@pytest.fixture(scope="module")
def eval_dir(people_dir, tmp_path_factory) -> Path:
    """The people's photos plus two mistakes: an astronaut photo filed under grace_hopper, and
    a photo without a face and an unreadable one (not scored)."""
    d = tmp_path_factory.mktemp("eval") / "EVAL"
    shutil.copytree(people_dir, d)
    (d / "grace_hopper" / "misfiled.jpg").write_bytes(
        encode(variants(astronaut(), 1, seed=11)[0]))
    Image.new("RGB", (200, 160), (30, 120, 60)).save(d / "astronaut" / "no_face.png")
    (d / "astronaut" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return d


def test_evaluation_report(trained, eval_dir, tmp_path):
    from lookalike.measure.evaluate import evaluate
    from lookalike.pictures.report import write_report

    model, _, _ = trained
    res = evaluate(model, eval_dir, progress=False)
    assert len(res["misclassified"]) == 1
    page = write_report(res, model, tmp_path / "report", data_dir=eval_dir)
    assert page == tmp_path / "report" / "index.html"
    links = _check_offline_page(page)
    assert "confusion.png" in links and "reliability.png" in links
    thumbs = [x for x in links if x.startswith("misclassified/")]
    assert len(thumbs) == len(res["misclassified"]) == 1
    with Image.open(page.parent / thumbs[0]) as im:
        assert im.size == (144, 144)
        assert np.asarray(im).std() > 15
    _png(page.parent / "confusion.png")
    _png(page.parent / "reliability.png")
    text = page.read_text(encoding="utf-8")
    for needle in ("misfiled.jpg", "no_face.png", "broken.jpg", "grace hopper", "precision",
                   "ECE", f"{100 * res['accuracy']:.1f} %"):
        assert needle in text, needle
    # A second report into the same folder replaces the old thumbnails.
    res2 = dict(res, misclassified=[])
    write_report(res2, model, tmp_path / "report", data_dir=eval_dir)
    assert not list((page.parent / "misclassified").glob("*.jpg"))


def test_thumbnail_is_cut_around_the_face_box(tmp_path):
    from lookalike.face.detector import FaceDetector
    from lookalike.pictures.report_faces import face_thumbnail

    photo = tmp_path / "a.jpg"
    photo.write_bytes(encode(astronaut()))
    face = FaceDetector().detect(astronaut())[0]
    jpg = face_thumbnail(photo, face.box, size=100)
    with Image.open(__import__("io").BytesIO(jpg)) as im:
        crop = np.asarray(im.convert("RGB")).astype(float)
    # The crop is centred on the face: its centre matches the face's centre in the photo.
    x, y, w, h = (int(v) for v in face.box)
    centre = astronaut()[y + h // 2 - 5:y + h // 2 + 5, x + w // 2 - 5:x + w // 2 + 5]
    assert np.abs(crop[45:55, 45:55].mean(axis=(0, 1)) - centre.mean(axis=(0, 1))).max() < 25
    assert face_thumbnail(tmp_path / "missing.jpg", face.box) is None


def test_reliability_and_confusion_pictures(tmp_path):
    from lookalike.pictures.charts import confusion_png, reliability_png

    rng = np.random.default_rng(0)
    n, k = 300, 5
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2.5 * np.eye(k)[y]
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    info = reliability_png(P, y, tmp_path / "rel.png")
    assert sum(info["counts"]) == n and 0 <= info["ece"] <= 1
    _png(tmp_path / "rel.png")
    names = ["Zoë Ångström-Łukasiewicz", "王小明", "Maximilian Alexander von Hohenzollern",
             "Пётр Ильич Чайковский", "A"]
    cm = np.zeros((k, k), int)
    np.add.at(cm, (y, P.argmax(1)), 1)
    confusion_png(cm, names, tmp_path / "cm.png")
    _png(tmp_path / "cm.png")
    many = [f"Person number {i}" for i in range(62)]  # the demo's 62 LFW people
    confusion_png(np.eye(62, dtype=int) * 3, many, tmp_path / "cm62.png")
    _png(tmp_path / "cm62.png")


def test_training_report_from_the_cli(people_dir, tmp_path, capsys):
    from lookalike.cli import main

    out = tmp_path / "train-report"
    assert main(["train", str(people_dir), "-o", str(tmp_path / "m.lookalike"), "-q",
                 "--report", str(out)]) == 0
    page = out / "index.html"
    links = _check_offline_page(page)
    assert links == ["split.png"]
    _png(out / "split.png")
    text = page.read_text(encoding="utf-8")
    assert "validation accuracy" in text and "Skipped photos (0)" in text
    assert "Training report" in capsys.readouterr().err


def test_training_report_lists_skipped_photos_and_draws_curves(people_dir, tmp_path):
    from lookalike.models.train import TrainReport, train
    from lookalike.pictures.train_report import curves_png, write_train_report

    data = tmp_path / "DATA"
    shutil.copytree(people_dir, data)
    (data / "astronaut" / "empty.jpg").write_bytes(b"")
    model, report = train(data, progress=False)
    assert report.skipped
    report.history = {"loss": [1.2, 0.8, 0.5], "val_loss": [1.3, 0.9, 0.7],
                      "accuracy": [0.4, 0.7, 0.9], "val_accuracy": [0.3, 0.6, 0.8]}
    page = write_train_report(report, model, tmp_path / "r")
    assert set(_check_offline_page(page)) == {"split.png", "curves.png"}
    _png(tmp_path / "r" / "curves.png")
    assert "empty.jpg" in page.read_text(encoding="utf-8")
    assert isinstance(report, TrainReport)
    # The article's CNN logs one row per epoch.
    rows = [{"epoch": e, "loss": 1.0 / e, "acc": 0.3 * e, "val_loss": 1.2 / e,
             "val_acc": 0.25 * e, "seconds": 3.0, "phase": "head"} for e in (1, 2, 3)]
    assert curves_png(rows, tmp_path / "rows.png") is not None
    _png(tmp_path / "rows.png")
    assert curves_png([], tmp_path / "none.png") is None


def test_report_folder_mistakes(trained, tmp_path):
    from lookalike.errors import LookalikeError
    from lookalike.pictures.report import write_report

    model, _, _ = trained
    (tmp_path / "file").write_text("x")
    with pytest.raises(LookalikeError, match="is a file"):
        write_report({"n": 0}, model, tmp_path / "file")
    with pytest.raises(LookalikeError, match="does not exist"):
        write_report({"n": 0}, model, tmp_path / "a" / "b")
    page = write_report({"n": 0, "photos": 0}, model, tmp_path / "empty")
    assert "nothing was scored" in page.read_text(encoding="utf-8")


@pytest.mark.lfw
@pytest.mark.slow
def test_lfw7_report(shared_data, tmp_path):
    """The issue's case: a model of the 7 lfw7 people, evaluated on their validation photos."""
    from lookalike.cli import main

    model = tmp_path / "lfw7.lookalike"
    assert main(["train", str(shared_data / "lfw7"), "-o", str(model), "-q"]) == 0
    out = tmp_path / "report"
    assert main(["evaluate", str(model), str(shared_data / "lfw7" / "validation"), "-q",
                 "--report", str(out)]) == 0
    links = _check_offline_page(out / "index.html")
    assert {"confusion.png", "reliability.png"} <= set(links)
