"""The demo: learn people from LFW (Labeled Faces in the Wild) and ask whom a photo that a
package ships (scikit-image's astronaut, Eileen Collins) resembles.

LFW is found in scikit-learn's cache layout (``<data_home>/lfw_home/lfw_funneled``): from
``--data-home``, ``$LOOKALIKE_DATA``, ``../shared/data``, or scikit-learn's own data home; when
it is nowhere and the machine is online, scikit-learn's loader downloads it.
"""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.errors import DatasetError, require
from lookalike.photos.folders import Dataset, Photo, split_person
from lookalike.photos.images import is_image_name


def lfw_candidates(data_home: str | Path | None = None) -> list[Path]:
    found = []
    if data_home:
        found.append(Path(data_home))
    if os.environ.get("LOOKALIKE_DATA"):
        found.append(Path(os.environ["LOOKALIKE_DATA"]))
    here = Path.cwd()
    found += [here / "../shared/data", here / "shared/data"]
    try:
        from sklearn.datasets import get_data_home

        found.append(Path(get_data_home()))
    except Exception:
        pass
    return found


def find_lfw(data_home: str | Path | None = None, *, download: bool = True) -> Path:
    """The ``lfw_funneled`` folder (one sub-folder per person)."""
    candidates = lfw_candidates(data_home)
    for c in candidates:
        for folder in (c / "lfw_home" / "lfw_funneled", c / "lfw_funneled"):
            if folder.is_dir():
                return folder.resolve()
    if data_home:
        where = Path(data_home)
    else:
        from sklearn.datasets import get_data_home

        where = Path(get_data_home())
    if download:
        from sklearn.datasets import fetch_lfw_people

        try:
            fetch_lfw_people(data_home=str(where), funneled=True, download_if_missing=True,
                             min_faces_per_person=70)
        except Exception as err:  # offline, or a partial download
            raise DatasetError(
                f"LFW not found (looked in {', '.join(str(c) for c in candidates)}) and the "
                f"download failed ({type(err).__name__})", None,
                "pass --data-home DIR (a folder holding lfw_home/) or go online") from None
        folder = where / "lfw_home" / "lfw_funneled"
        if folder.is_dir():
            return folder
    raise DatasetError("LFW not found", where, "pass --data-home DIR (a folder holding lfw_home/)")


def lfw_dataset(folder: Path, *, min_photos: int = 20, max_photos: int = 20, seed: int = 0,
                validation_fraction: float = 0.2) -> Dataset:
    """People of LFW with at least ``min_photos`` photos, their first ``max_photos`` (sorted)."""
    photos: list[Photo] = []
    for pdir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(f for f in pdir.iterdir() if is_image_name(f))
        if len(files) < min_photos:
            continue
        files = files[:max_photos]
        val = split_person(files, pdir.name, seed, validation_fraction)
        photos += [Photo(f, pdir.name, "validation" if f in val else "train") for f in files]
    people = sorted({p.person for p in photos})
    if not people:
        raise DatasetError(f"no person with {min_photos}+ photos", folder, "lower --min-photos")
    return Dataset(folder, "person-folders", photos, people, seed, validation_fraction)


def demo_photo() -> bytes:
    """scikit-image's astronaut photo (Eileen Collins, NASA, public domain) as PNG bytes."""
    import io

    from PIL import Image

    data = require("skimage.data", extra="demo", error=DatasetError,
                   purpose="the demo photo comes from scikit-image",
                   fix="pip install 'lookalike[demo]' or pass --photo PATH")
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()
