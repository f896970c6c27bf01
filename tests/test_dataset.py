import os

import pytest

from lookalike.errors import DatasetError
from lookalike.photos.folders import discover, fingerprint, list_labelled, split_person


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_person_folders_split_is_seeded_and_deterministic(tmp_path):
    for p in ("ann", "bob"):
        for i in range(10):
            _touch(tmp_path / p / f"{i}.jpg")
    a = discover(tmp_path, seed=1)
    b = discover(tmp_path, seed=1)
    c = discover(tmp_path, seed=2)
    assert a.layout == "person-folders" and a.people == ["ann", "bob"]
    val = lambda ds: sorted(ph.path.name for ph in ds.subset("validation"))  # noqa: E731
    assert val(a) == val(b) != val(c)
    for person in ("ann", "bob"):
        assert [sum(ph.person == person for ph in a.subset(side))
                for side in ("train", "validation")] == [8, 2]


def test_split_folders_layout_and_unicode_names(tmp_path):
    _touch(tmp_path / "train" / "Zoë" / "a.jpg")
    _touch(tmp_path / "train" / "王小明" / "a.png")
    _touch(tmp_path / "validation" / "王小明" / "b.webp")
    _touch(tmp_path / "train" / "Zoë" / "notes.txt")
    _touch(tmp_path / "train" / "Zoë" / ".hidden.jpg")
    ds = discover(tmp_path)
    assert ds.layout == "split-folders"
    assert ds.people == sorted(["Zoë", "王小明"])
    assert len(ds.subset("train")) == 2 and len(ds.subset("validation")) == 1
    assert any("notes.txt" in p for p, _ in ds.ignored)


def test_small_people_keep_their_only_photo_for_training():
    assert split_person([], "a", 0, 0.2) == set()
    assert split_person(["one.jpg"], "a", 0, 0.2) == set()
    assert len(split_person(["1", "2"], "a", 0, 0.2)) == 1


def test_bad_folders(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        discover(tmp_path / "missing")
    _touch(tmp_path / "file.jpg")
    with pytest.raises(DatasetError, match="is a file"):
        discover(tmp_path / "file.jpg")
    (tmp_path / "empty" / "ann").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no photos"):
        discover(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no photos"):
        list_labelled(tmp_path / "empty")


def test_symlink_loop_does_not_hang(tmp_path):
    _touch(tmp_path / "ann" / "a.jpg")
    os.symlink(tmp_path / "ann", tmp_path / "ann" / "loop")
    ds = discover(tmp_path)
    assert [p.path.name for p in ds.photos] == ["a.jpg"]


def test_fingerprint_changes_with_content_and_label():
    base = [("a/1.jpg", "a", "h1"), ("b/1.jpg", "b", "h2")]
    assert fingerprint(base) == fingerprint(list(reversed(base)))
    assert fingerprint(base) != fingerprint([("a/1.jpg", "a", "h9"), ("b/1.jpg", "b", "h2")])
    assert fingerprint(base) != fingerprint([("a/1.jpg", "b", "h1"), ("b/1.jpg", "b", "h2")])
