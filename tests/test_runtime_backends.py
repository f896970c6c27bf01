"""The runtime's one interface: each backend class behind ``open_network`` answers alike, the
policy picks the class and the precision, and the shipped int8 SFace is used only where it
applies (OpenVINO, the exact source file) and is recorded in the embedder's version."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lookalike import runtime
from lookalike.errors import LookalikeError
from lookalike.face.detector import (
    FaceDetector,
    sface_path,
    yunet_blob,
    yunet_image,
    yunet_path,
)
from lookalike.face.embedders import SFaceEmbedder
from lookalike.runtime import weights
from lookalike.runtime.network import Network
from lookalike.runtime.opencv_net import OpenCVNetwork
from lookalike.runtime.openvino_net import OpenVINONetwork
from tests.utils import astronaut, grace_hopper

if not runtime.openvino_available():  # CI installs it: both runtimes run there
    pytest.skip("openvino is not installed", allow_module_level=True)


def _crops(rgb: np.ndarray) -> np.ndarray:
    faces = FaceDetector(backend="opencv").detect(rgb)
    crops = SFaceEmbedder(backend="opencv")._rgb_crops(rgb, faces[:2])
    return np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)


@pytest.mark.parametrize(("backend", "cls"), [("openvino", OpenVINONetwork),
                                              ("opencv", OpenCVNetwork)])
def test_open_network_gives_the_backends_class_behind_one_interface(backend, cls):
    net = runtime.open_network(yunet_path(), backend=backend, dynamic=True)
    assert isinstance(net, cls) and isinstance(net, Network)
    assert isinstance(runtime.Network(yunet_path(), backend=backend), cls)  # the old spelling
    assert net.backend == backend and net.precision == "f32" and net.compiles == 0
    outs = net.run(yunet_blob(astronaut()))
    assert net.compiles == 1 and all(o.dtype == np.float32 for o in outs)


@pytest.mark.parametrize("backend", ["openvino", "opencv"])
def test_rgb_images_in_give_what_the_float_blob_gives(backend):
    """The detector's network takes RGB uint8 images (``rgb_images``: OpenVINO converts them in
    the graph, OpenCV here): the same outputs as the float BGR NCHW blob, padded sizes and
    sizes of 32s, a static shape and the dynamic one."""
    plain = runtime.open_network(yunet_path(), backend=backend, dynamic=True)
    images = runtime.open_network(yunet_path(), backend=backend, dynamic=True,
                                  rgb_images=True)
    for rgb in (grace_hopper()[:300, :200], astronaut()[:256, :320]):
        for _ in range(2):  # the dynamic model, then (OpenVINO) a compiled size
            want = plain.run(yunet_blob(rgb))
            got = images.run(yunet_image(rgb))
            assert len(got) == len(want) >= 3
            for x, y in zip(got, want, strict=True):
                assert x.shape == y.shape
                np.testing.assert_allclose(x, y, atol=1e-4, rtol=1e-4)


def test_both_backends_give_the_same_outputs_for_the_same_input():
    """YuNet's raw outputs and SFace's raw vectors (one face and a batch of faces) from the
    two classes agree within float rounding on package-shipped photos."""
    blob = yunet_blob(grace_hopper())
    a = runtime.open_network(yunet_path(), backend="opencv").run(blob)
    b = runtime.open_network(yunet_path(), backend="openvino").run(blob)
    assert len(a) == len(b) >= 3
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=2e-3)
    crops = np.concatenate([_crops(astronaut()), _crops(grace_hopper())])
    assert len(crops) >= 2
    cv = runtime.open_network(sface_path(), backend="opencv")
    ov = runtime.open_network(sface_path(), backend="openvino", batch=True)
    want = np.concatenate([cv.run(c[None])[0] for c in crops])
    got = ov.run(crops)[0]  # all faces in one inference
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-3)


def test_precision_policy_per_backend_and_network(monkeypatch):
    monkeypatch.delenv("LOOKALIKE_PRECISION", raising=False)
    assert runtime.precision_name("openvino", sface_path()) == "f32"
    monkeypatch.setenv("LOOKALIKE_PRECISION", "int8")
    assert runtime.precision_name("openvino", sface_path()) == "int8"  # ships an int8 graph
    assert runtime.precision_name("openvino", yunet_path()) == "f32"  # does not: runs f32
    assert runtime.precision_name("opencv", sface_path()) == "f32"  # OpenCV: f32 only
    assert runtime.precision_name("openvino", sface_path(), "f32") == "f32"  # asked for
    with pytest.raises(LookalikeError, match="LOOKALIKE_PRECISION"):
        runtime.precision_name("openvino", sface_path(), "int4")


def test_int8_sface_is_shipped_for_exactly_the_source_file(tmp_path):
    xml = runtime.int8_model(sface_path())
    assert xml is not None and xml.with_suffix(".bin").is_file()
    assert runtime.int8_model(yunet_path()) is None
    other = tmp_path / sface_path().name  # the same name, other bytes: not that graph's source
    shutil.copy(sface_path(), other)
    with open(other, "r+b") as fh:
        fh.seek(-1, 2)
        fh.write(b"\0" if fh.read(1) != b"\0" else b"\1")
    assert runtime.int8_model(other) is None
    assert runtime.precision_name("openvino", other, "int8") == "f32"
    assert weights.int8_model(tmp_path / "missing.onnx") is None


def test_int8_embedder_is_versioned_apart_and_close_to_f32(monkeypatch):
    monkeypatch.delenv("LOOKALIKE_PRECISION", raising=False)
    f32 = SFaceEmbedder()
    int8 = SFaceEmbedder(precision="int8")
    assert int8.version == f32.version + "+int8" and int8.precision == "int8"
    with pytest.raises(LookalikeError, match="runs on OpenVINO only"):  # never silently f32
        SFaceEmbedder(backend="opencv", precision="int8")
    assert SFaceEmbedder(backend="opencv", precision="f32").version == f32.version
    monkeypatch.setenv("LOOKALIKE_PRECISION", "int8")
    assert SFaceEmbedder().version == int8.version
    # YuNet has no int8 graph: the detector (and its cache key) stay f32's
    assert FaceDetector().key == FaceDetector(backend="opencv").key
    for rgb in (astronaut(), grace_hopper()):
        faces = FaceDetector().detect(rgb)[:1]
        a, b = f32.embed(rgb, faces), int8.embed(rgb, faces)
        assert isinstance(int8._network(), OpenVINONetwork)
        assert int8._network().precision == "int8"
        cos = float(a[0] @ b[0])
        assert 0.95 < cos < 0.99999  # close to f32's, and not f32's own numbers


# -- precision recorded in models and galleries ---------------------------------------------

def _photo(tmp_path, rgb, seed: int):
    from tests.utils import encode, variants

    p = tmp_path / f"probe{seed}.jpg"
    p.write_bytes(encode(variants(rgb, 1, seed=seed)[0], quality=85))
    return p


def test_an_f32_model_keeps_answering_at_f32_whatever_the_default(trained, tmp_path,
                                                                  monkeypatch):
    """A saved (f32) model answers exactly as before, also where the default precision is
    int8: its embedder is made again at the precision recorded in it."""
    from lookalike.models.model import load
    from lookalike.runtime import policy

    model, _, path = trained
    monkeypatch.delenv("LOOKALIKE_PRECISION", raising=False)
    photo = _photo(tmp_path, grace_hopper(), 7)
    want = load(path).predict(photo).faces[0].ranking
    monkeypatch.setattr(policy, "requested_precision", lambda: "int8")  # an int8 default
    assert SFaceEmbedder().precision == "int8"  # new embedders follow the default...
    loaded = load(path)
    assert loaded.pipeline.embedder.precision == "f32"  # ...a saved model keeps its own
    got = loaded.predict(photo).faces[0].ranking
    assert [m.person for m in got] == [m.person for m in want]
    assert [m.similarity for m in got] == [m.similarity for m in want]


def test_an_int8_model_follows_its_precision_and_refuses_another_by_name(people_dir, tmp_path,
                                                                        monkeypatch):
    from lookalike.models.model import load
    from lookalike.models.train import train

    monkeypatch.setenv("LOOKALIKE_PRECISION", "int8")
    model, _ = train(people_dir, progress=False, cache=False)
    assert model.manifest["embedder"]["version"].endswith("+int8")
    path = tmp_path / "int8.lookalike"
    model.save(path)
    photo = _photo(tmp_path, astronaut(), 3)
    want = load(path).predict(photo).faces[0].ranking
    monkeypatch.delenv("LOOKALIKE_PRECISION")  # the default (f32): the model's own precision
    got = load(path).predict(photo).faces[0].ranking
    assert got[0].person == "astronaut"
    assert [m.similarity for m in got] == pytest.approx([m.similarity for m in want], abs=1e-6)
    monkeypatch.setenv("LOOKALIKE_PRECISION", "f32")  # asked for another: one line, by name
    with pytest.raises(Exception, match="LOOKALIKE_PRECISION=int8") as err:
        load(path).predict(photo)
    assert "\n" not in str(err.value)
    monkeypatch.delenv("LOOKALIKE_PRECISION")
    monkeypatch.setenv("LOOKALIKE_BACKEND", "opencv")  # no int8 SFace there: said, not mixed
    with pytest.raises(LookalikeError, match="runs on OpenVINO only") as err:
        load(path).predict(photo)
    assert "\n" not in str(err.value)


@pytest.mark.slow  # 3.2 CPU-s (int8 + f32 nets, 2 workers); fast: the int8 model test above
def test_a_gallery_never_mixes_precisions_even_from_pool_workers(people_dir, tmp_path,
                                                                 monkeypatch):
    """A gallery made at int8 and added to later at the default (f32), by worker processes,
    stores int8 vectors only."""
    from lookalike.face.embedders import embedder_spec, get_embedder
    from lookalike.face.pipeline import FacePipeline
    from lookalike.models.gallery import Gallery

    monkeypatch.setenv("LOOKALIKE_PRECISION", "int8")
    g = Gallery.create(tmp_path / "int8.gallery")
    g.add_photos([("astronaut", p) for p in sorted((people_dir / "astronaut").glob("*.jpg"))[:2]],
                 workers=1, progress=False, cache=False)
    g.close()
    monkeypatch.delenv("LOOKALIKE_PRECISION")
    g = Gallery.open(tmp_path / "int8.gallery")
    assert embedder_spec(g.pipeline.embedder) == "sface@int8"
    photos = sorted((people_dir / "grace_hopper").glob("*.jpg"))[:4]
    rep = g.add_photos([("grace_hopper", p) for p in photos], workers=2, progress=False,
                       cache=False)
    assert rep.added == 4
    stored = g.store.person_vectors("grace_hopper")
    g.close()
    pipes = {p: FacePipeline(get_embedder(f"sface@{p}"), cache=False) for p in ("f32", "int8")}
    want = {p: np.stack([pipe.analyze(ph).embeddings[0] for ph in photos])
            for p, pipe in pipes.items()}
    assert len(stored) == 4
    for v in stored:
        assert np.max(want["int8"] @ v) > 0.9999  # an int8 vector of one of the photos
        assert np.max(want["f32"] @ v) < 0.9995  # not an f32 one
