import functools

import numpy as np
import pytest

from lookalike.errors import LookalikeError
from lookalike.face.embedders import ComboEmbedder, DlibEmbedder, SFaceEmbedder, get_embedder
from tests.utils import astronaut, detector, grace_hopper, variants


def _embed(embedder, rgb):
    faces = detector().detect(rgb)
    assert faces, "no face detected"
    return embedder.embed(rgb, faces[:1])[0]


_embedder = functools.cache(get_embedder)  # one of each for the module's tests


@pytest.fixture(scope="module", params=["sface", "dlib"])
def embedder(request):
    return _embedder(request.param)


def test_unit_vectors_of_the_declared_size(embedder):
    v = _embed(embedder, astronaut())
    assert v.shape == (embedder.dim,) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1) < 1e-5


# dlib's case: 1.4 CPU-s; fast: test_unit_vectors_of_the_declared_size[dlib] and the combo test
@pytest.mark.parametrize("name", ["sface", pytest.param("dlib", marks=pytest.mark.slow)])
def test_same_person_above_threshold_other_person_below(name):
    embedder = _embedder(name)
    a = _embed(embedder, astronaut())
    same = [_embed(embedder, v) for v in variants(astronaut(), 3, seed=1)]
    turned = _embed(embedder, np.ascontiguousarray(np.rot90(astronaut())))
    other = _embed(embedder, grace_hopper())
    for s in [*same, turned]:
        assert float(a @ s) > embedder.threshold
    assert float(a @ other) < embedder.threshold
    assert min(float(a @ s) for s in same) > float(a @ other) + (1 - embedder.threshold) / 2


def test_combo_is_the_concatenation_of_unit_parts():
    combo = ComboEmbedder([SFaceEmbedder(), DlibEmbedder()])
    assert combo.dim == 256 and combo.name == "sface+dlib"
    v = _embed(combo, astronaut())
    assert abs(float(np.linalg.norm(v[:128])) - np.sqrt(0.5)) < 1e-4


def test_empty_face_list_and_unknown_name():
    assert SFaceEmbedder().embed(astronaut(), []).shape == (0, 128)
    with pytest.raises(LookalikeError, match="unknown embedder"):
        get_embedder("facenet")
