"""OUT/, the folder a grouping lives in: ``groups.json`` (the answer, README's shape), one
folder per group with links to (or copies of) its photos, ``unsorted/``, and the faces'
embeddings in ``.lookalike-group/`` so that later runs add photos without re-reading old ones.

Safety: every file is written atomically (:func:`lookalike.files.atomic_write`); a folder that
exists, is not empty and holds no groups.json of ours is refused; when the group folders are
laid out again only the links and copies this module placed (listed in
``.lookalike-group/placed.json``) are removed, and a folder only when it is then empty — a
file the user put there stays."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import unicodedata
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError
from lookalike.files import atomic_write
from lookalike.grouping.model import FORMAT, Grouping

GROUPS_JSON = "groups.json"
STATE = ".lookalike-group"
UNSORTED = "unsorted"
MAX_NAME = 120


class GroupError(LookalikeError):
    """An OUT/ folder, group id or name that cannot be used."""


def check_out(out: str | Path, *, must_exist: bool = False) -> Path:
    """``out`` when it is a grouping folder of ours, empty, or new (``must_exist``: it must
    hold a grouping already); otherwise a one-line error."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GroupError("is a file, not a folder", out, "give a folder for the groups, "
                         "e.g. -o people/")
    if (out / GROUPS_JSON).is_file() and (out / STATE).is_dir():
        return out
    if must_exist:
        raise GroupError("holds no grouping", out, "make one first: lookalike group PHOTOS "
                         f"-o {out}")
    if out.exists() and any(out.iterdir()):
        raise GroupError("exists and is not a lookalike grouping (no groups.json of ours)",
                         out, "give a new or empty folder; nothing in it was changed")
    return out


def check_name(name: str, grouping: Grouping, gid: int) -> str:
    """A group name that is safe as a folder name and not another group's, NFC-normalised;
    otherwise a one-line error."""
    name = unicodedata.normalize("NFC", name).strip()
    fix = 'give a name such as "Jane Doe"'
    if not name:
        raise GroupError("the name is empty", fix=fix)
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise GroupError(f"{name!r} is not a safe folder name (no '.', '..', '/', '\\')",
                         fix=fix)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise GroupError(f"{name!r} holds control characters", fix=fix)
    if name.startswith("."):
        raise GroupError(f"{name!r} starts with '.', a hidden folder", fix=fix)
    if len(name.encode()) > MAX_NAME:
        raise GroupError(f"the name is longer than {MAX_NAME} bytes", fix="shorten it")
    if name.casefold() in (UNSORTED, GROUPS_JSON) or _generated(name):
        raise GroupError(f"{name!r} is a folder name lookalike uses itself", fix=fix)
    for g in grouping.groups:
        if g.id != gid and g.name and g.name.casefold() == name.casefold():
            raise GroupError(f"{name!r} is already the name of group {g.id}",
                             fix=f"if they are one person: lookalike group merge OUT {g.id} "
                             f"{gid}")
    return name


def _generated(name: str) -> bool:
    head, _, tail = name.partition("-")
    return head.lower() == "group" and tail.isdigit()


# -- reading and writing -------------------------------------------------------------------

def load(out: str | Path) -> tuple[Grouping, dict[str, np.ndarray], dict[str, bytes]]:
    """The grouping in OUT/, the embedding and the thumbnail (JPEG) of every face by key."""
    out = check_out(out, must_exist=True)
    try:
        doc = json.loads((out / GROUPS_JSON).read_text(encoding="utf-8"))
        if int(doc.get("format", 0)) != FORMAT:
            raise GroupError(f"groups.json format {doc.get('format')}, this lookalike reads "
                             f"{FORMAT}", out / GROUPS_JSON, "group the photos again into a "
                             "new folder")
        grouping = Grouping.from_dict(doc)
        with np.load(out / STATE / "faces.npz", allow_pickle=False) as z:
            keys = [str(k) for k in z["keys"]]
            X = z["X"]
            data, ends = z["thumb_data"].tobytes(), z["thumb_ends"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GroupError(f"damaged grouping ({type(err).__name__}: {err})", out,
                         "group the photos again into a new folder") from None
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64) if len(ends) else []
    thumbs = {k: data[s:e] for k, s, e in zip(keys, starts, ends, strict=True)}
    return grouping, {k: X[i] for i, k in enumerate(keys)}, thumbs


def save(out: str | Path, grouping: Grouping, vectors: dict[str, np.ndarray],
         thumbs: dict[str, bytes], *, copy: bool = False) -> Path:
    """Write the grouping to OUT/ (created when missing) and lay out its folders."""
    out = check_out(out)
    try:
        (out / STATE).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GroupError(f"cannot create the folder ({err.strerror})", out,
                         "give a folder you can write to") from None
    keys = sorted(vectors)
    dim = next((len(v) for v in vectors.values()), 0)
    blobs = [thumbs.get(k, b"") for k in keys]
    arrays = {"keys": np.array(keys, dtype=str),
              "X": np.asarray([vectors[k] for k in keys], np.float32).reshape(len(keys), dim),
              "thumb_data": np.frombuffer(b"".join(blobs), np.uint8),
              "thumb_ends": np.cumsum([len(b) for b in blobs], dtype=np.int64)}

    def write_npz(fh) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        fh.write(buf.getvalue())

    atomic_write(out / STATE / "faces.npz", write_npz, error=GroupError)
    text = json.dumps(grouping.to_dict(), ensure_ascii=False, indent=1).encode()
    atomic_write(out / GROUPS_JSON, lambda fh: fh.write(text), error=GroupError)
    lay_out(out, grouping, copy=copy)
    return out / GROUPS_JSON


def lay_out(out: Path, grouping: Grouping, *, copy: bool = False) -> None:
    """One folder per group and ``unsorted/``, each holding a link to (or a copy of) every
    photo with a face in it; what an earlier layout placed is removed first."""
    placed_file = out / STATE / "placed.json"
    with contextlib.suppress(OSError, ValueError):
        for rel in json.loads(placed_file.read_text(encoding="utf-8")):
            _remove_placed(out, rel)
    placed: list[str] = []
    plan = [(g.folder, g.faces) for g in grouping.groups] + [(UNSORTED, grouping.unsorted)]
    for folder, faces in plan:
        if not faces:
            continue
        target_dir = out / folder
        target_dir.mkdir(exist_ok=True)
        used: set[str] = {p.name for p in target_dir.iterdir()}
        seen: set[str] = set()
        for face in faces:
            for photo in [face.photo, *face.copies]:
                if photo in seen or not Path(photo).is_absolute():
                    continue  # a photo twice in a group (a collage), or an upload
                seen.add(photo)
                name = _free_name(Path(photo).name, used)
                used.add(name)
                try:
                    _place(Path(photo), target_dir / name, copy)
                except OSError:
                    continue  # the photo moved since: groups.json still lists it
                placed.append(f"{folder}/{name}")
    text = json.dumps(placed, ensure_ascii=False).encode()
    atomic_write(placed_file, lambda fh: fh.write(text), error=GroupError)


def _free_name(name: str, used: set[str]) -> str:
    if name not in used:
        return name
    stem, suffix = os.path.splitext(name)
    n = 2
    while f"{stem}-{n}{suffix}" in used:
        n += 1
    return f"{stem}-{n}{suffix}"


def _place(src: Path, dst: Path, copy: bool) -> None:
    if copy:
        tmp = dst.with_name(f".{dst.name}.partial")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    else:
        os.symlink(src.resolve(), dst)


def _remove_placed(out: Path, rel: str) -> None:
    """Remove one entry an earlier layout placed (never outside OUT/), and its folder when
    that is left empty."""
    path = out / rel
    if ".." in Path(rel).parts or Path(rel).is_absolute() or len(Path(rel).parts) != 2:
        return
    with contextlib.suppress(OSError):
        if path.is_symlink() or path.is_file():
            path.unlink()
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # only when empty
