"""Folder layouts of photos of people, deterministic splits, and fingerprints.

Two layouts are understood:

* ``DATA/train/<person>/*`` and ``DATA/validation/<person>/*`` (Keras' / the article's), also
  ``val``, ``valid`` or ``test`` for the second folder;
* ``DATA/<person>/*``: each person's photos are split 80/20 with a seeded shuffle.
"""

from __future__ import annotations

import hashlib
import os
import random
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.errors import DatasetError, printable
from lookalike.photos.images import is_image_name

VALIDATION_NAMES = ("validation", "val", "valid", "test")


@dataclass
class Photo:
    path: Path
    person: str
    subset: str  # "train" or "validation"

    @property
    def rel(self) -> str:
        return self.path.as_posix()


@dataclass
class Dataset:
    root: Path
    layout: str  # "split-folders" or "person-folders"
    photos: list[Photo]
    people: list[str]
    seed: int = 0
    validation_fraction: float = 0.2
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    def subset(self, name: str) -> list[Photo]:
        return [p for p in self.photos if p.subset == name]

    def relpath(self, photo: Photo | Path) -> str:
        """The photo's path below the data folder, printable (see :func:`errors.printable`):
        it is shown in summaries and stored in the model's manifest (UTF-8 JSON)."""
        path = photo.path if isinstance(photo, Photo) else photo
        try:
            return printable(path.relative_to(self.root).as_posix())
        except ValueError:
            return printable(path.as_posix())


def person_name(folder: Path) -> str:
    """A person's display name from a folder name: NFC Unicode, underscores as spaces kept
    as they are (``George_W_Bush`` stays recognisable either way)."""
    return unicodedata.normalize("NFC", printable(folder.name))


def _walk_photos(folder: Path, ignored: list[tuple[str, str]]) -> list[Path]:
    """Photo files below a person's folder (sub-folders included), sorted, loops avoided."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    top = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True, onerror=None):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            ignored.append((printable(dirpath), "symlink loop, not followed"))
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in list(dirnames):
            link = Path(dirpath) / d
            if link.is_symlink() and _points_up(link, top):
                # a link back up (to this folder or one holding it): other people's photos
                ignored.append((printable(link), "link to a folder above it (a loop), "
                                                 "not followed"))
                dirnames.remove(d)
        shown = [n for n in filenames if not n.startswith(".")]
        if not shown and not dirnames:
            ignored.append((printable(dirpath), "empty folder, no photos"))
        for name in sorted(shown):
            path = Path(dirpath) / name
            if is_image_name(path):
                found.append(path)
            else:
                ignored.append((printable(path), "not a photo file name (extension)"))
    return sorted(found)


def photos_in(folder: str | Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The photo files in ``folder`` and its sub-folders (sorted), and what was passed over
    with why (files that are not photos by name, empty folders, link loops)."""
    ignored: list[tuple[str, str]] = []
    return _walk_photos(Path(folder), ignored), ignored


def _points_up(link: Path, top: Path) -> bool:
    """A folder link to ``top`` or a folder holding it (or a link that cannot be resolved)."""
    try:
        return top.is_relative_to(link.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a loop of links (Python < 3.13)
        return True


def _person_folders(folder: Path, ignored: list[tuple[str, str]] | None = None) -> list[Path]:
    """The sub-folders of ``folder``; in an OUT/ of ``lookalike group``, its named groups only
    (the rest are appended to ``ignored``)."""
    from lookalike.photos.groupings import named_folders

    try:
        found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except PermissionError:
        raise DatasetError("permission denied", folder, "make the folder readable") from None
    named = named_folders(folder)
    if named is None:
        return found
    if ignored is not None:
        ignored += named[1]
    return [p for p in found if p.name in named[0]]


def check_folder(data_dir: str | Path) -> Path:
    root = Path(data_dir)
    if not root.exists():
        raise DatasetError("folder not found", root, "give a folder with one sub-folder per person")
    if not root.is_dir():
        raise DatasetError("is a file, not a folder", root,
                           "give a folder with one sub-folder per person")
    return root


def split_person(files: list[Path], person: str, seed: int, fraction: float) -> set[Path]:
    """The validation files of one person: a seeded shuffle of the sorted names, the last
    ``round(fraction·n)`` (at least 1 when n ≥ 2, at most n-1)."""
    if len(files) < 2 or fraction <= 0:
        return set()
    rng = random.Random(f"{seed}:{person}")
    order = sorted(files)
    rng.shuffle(order)
    k = min(len(order) - 1, max(1, round(fraction * len(order))))
    return set(order[-k:])


def discover(data_dir: str | Path, *, seed: int = 0, validation_fraction: float = 0.2,
             min_people: int = 1) -> Dataset:
    """List a data folder in either layout. Raises :class:`DatasetError` when there is
    nothing to learn from."""
    root = check_folder(data_dir)
    subdirs = {p.name.lower(): p for p in _person_folders(root)}
    ignored: list[tuple[str, str]] = []
    photos: list[Photo] = []
    val_dir = next((subdirs[n] for n in VALIDATION_NAMES if n in subdirs), None)
    if "train" in subdirs and val_dir is not None or ("train" in subdirs and len(subdirs) == 1):
        layout = "split-folders"
        for subset, folder in (("train", subdirs["train"]), ("validation", val_dir)):
            if folder is None:
                continue
            for pdir in _person_folders(folder):
                for f in _walk_photos(pdir, ignored):
                    photos.append(Photo(f, person_name(pdir), subset))
    else:
        layout = "person-folders"
        for pdir in _person_folders(root, ignored):
            files = _walk_photos(pdir, ignored)
            val = split_person(files, person_name(pdir), seed, validation_fraction)
            photos += [Photo(f, person_name(pdir), "validation" if f in val else "train")
                       for f in files]
    people = sorted({p.person for p in photos if p.subset == "train"})
    if not photos:
        loose = [p for p in root.iterdir() if p.is_file() and is_image_name(p)]
        raise DatasetError(
            f"no photos in person folders (the {len(loose)} photo(s) directly in it need a "
            "folder per person)" if loose else "no photos found", root,
            "put photos in one sub-folder per person (DATA/<person>/*.jpg) or use "
            "DATA/train/<person>/ and DATA/validation/<person>/",
        )
    if len(people) < min_people:
        raise DatasetError(f"found {len(people)} person folder(s) with photos, need "
                           f"{min_people}", root, "add a sub-folder per person")
    return Dataset(root, layout, photos, people, seed, validation_fraction, ignored)


def list_labelled(data_dir: str | Path, ignored: list[tuple[str, str]] | None = None
                  ) -> list[Photo]:
    """Photos of a ``DIR/<person>/*`` folder (for evaluation), all in one subset. Files and
    folders that are not photos are appended to ``ignored`` as (path, why)."""
    root = check_folder(data_dir)
    ignored = [] if ignored is None else ignored
    photos = [Photo(f, person_name(pdir), "validation")
              for pdir in _person_folders(root, ignored) for f in _walk_photos(pdir, ignored)]
    if not photos:
        raise DatasetError("no photos found", root, "give a folder with DIR/<person>/*.jpg")
    return photos


def fingerprint(items: list[tuple[str, str, str]]) -> str:
    """A digest of (relative path, person, content hash) triples: same data ⇔ same print."""
    h = hashlib.blake2b(digest_size=16)
    for rel, person, digest in sorted(items):
        h.update(f"{rel}\0{person}\0{digest}\n".encode())
    return h.hexdigest()
