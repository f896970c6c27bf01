"""A grouping's OUT/ as training data: only its named groups are people (``lookalike train
OUT/``, ``lookalike gallery add G OUT/``); unnamed groups and ``unsorted/`` are left out, and
said so. Reads groups.json only (no NumPy), for :mod:`lookalike.photos.folders`."""

from __future__ import annotations

import json
from pathlib import Path

from lookalike.errors import DatasetError


def named_folders(root: Path) -> tuple[set[str], list[tuple[str, str]]] | None:
    """``None`` when ``root`` is not a grouping of ours; else the folder names of its named
    groups and ``(folder, why)`` for each folder left out."""
    doc_path = root / "groups.json"
    if not (doc_path.is_file() and (root / ".lookalike-group").is_dir()):
        return None
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
        groups = list(doc["groups"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"damaged groups.json ({type(err).__name__})", doc_path,
                           "group the photos again") from None
    keep = {str(g["folder"]) for g in groups if g.get("name")}
    left = [(str(root / str(g["folder"])), f"unnamed group {g['id']}, left out — name it: "
             f"lookalike group name {root} {g['id']} NAME")
            for g in groups if not g.get("name")]
    if doc.get("unsorted"):
        left.append((str(root / "unsorted"), "faces that match nobody, left out"))
    if not keep:
        raise DatasetError(f"a grouping with no named group ({len(groups)} unnamed)", root,
                           f"name the groups that are people first: lookalike group name "
                           f"{root} ID NAME")
    return keep, left
