import numpy as np

from lookalike.face.choose import choose_faces
from lookalike.face.embedders import l2_normalize


def test_the_face_that_agrees_wins_even_when_smaller():
    rng = np.random.default_rng(0)
    person = rng.normal(size=64)
    near = lambda: l2_normalize(person + 0.4 * rng.normal(size=64))  # noqa: E731
    far = lambda: l2_normalize(rng.normal(size=64))  # noqa: E731
    photos = [np.stack([near()]) for _ in range(4)]
    photos.append(np.stack([far(), near()]))  # a fan, more prominent, beside the person
    photos.append(np.stack([far(), far(), near()]))
    choices = choose_faces(photos, threshold=0.3)
    assert [c.index for c in choices] == [0, 0, 0, 0, 1, 2]
    assert not choices[4].ambiguous and choices[4].margin > 0.3


def test_ambiguous_when_nothing_agrees_or_alone():
    rng = np.random.default_rng(1)
    photos = [l2_normalize(rng.normal(size=(2, 32))) for _ in range(3)]
    choices = choose_faces(photos, threshold=0.5)
    assert all(c.ambiguous for c in choices)
    alone = choose_faces([l2_normalize(rng.normal(size=(3, 32)))], threshold=0.5)
    assert alone[0].index == 0 and alone[0].ambiguous
    single = choose_faces([l2_normalize(rng.normal(size=(1, 32)))], threshold=0.5)
    assert not single[0].ambiguous
