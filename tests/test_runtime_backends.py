"""The runtime's one interface: each backend class behind ``open_network`` answers alike, the
policy picks the class and the precision, and the shipped int8 SFace is used only where it
applies (OpenVINO, the exact source file) and is recorded in the embedder's version."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import astronaut, grace_hopper

from lookalike import runtime
from lookalike.errors import LookalikeError
from lookalike.face.detector import FaceDetector, sface_path, yunet_blob, yunet_path
from lookalike.face.embedders import SFaceEmbedder
from lookalike.runtime import weights
from lookalike.runtime.opencv_net import OpenCVNetwork
from lookalike.runtime.openvino_net import OpenVINONetwork

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
    assert isinstance(net, cls) and isinstance(net, runtime.Network)
    assert net.backend == backend and net.precision == "f32" and net.compiles == 0
    outs = net.run(yunet_blob(astronaut()))
    assert net.compiles == 1 and all(o.dtype == np.float32 for o in outs)


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
    assert SFaceEmbedder(backend="opencv", precision="int8").version == f32.version
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
