"""LFW as the benchmark reads it: ``pairs.txt`` (10 folds of 300 same-person and 300
different-person pairs), its people folders, and the few-shot splits of the identification
protocol (the first photos of each person, sorted by name, to learn from; the rest to ask)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import DatasetError


@dataclass(frozen=True)
class Pairs:
    """LFW pairs: image paths, whether each pair is the same person, and its fold."""

    left: list[Path]
    right: list[Path]
    same: np.ndarray  # bool (n,)
    fold: np.ndarray  # int (n,)

    def __len__(self) -> int:
        return len(self.same)


def lfw_image(lfw_dir: Path, name: str, number: int) -> Path:
    return lfw_dir / name / f"{name}_{number:04d}.jpg"


def parse_pairs(text: str, lfw_dir: str | Path = ".") -> Pairs:
    """Parse LFW's ``pairs.txt`` (header ``folds n``, then per fold ``n`` same-person lines
    ``name i j`` and ``n`` different-person lines ``name1 i name2 j``). ``pairsDevTrain.txt``
    style files (header ``n`` only) are one fold."""
    lfw_dir = Path(lfw_dir)
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DatasetError("empty pairs file", None, "use LFW's pairs.txt")
    head = lines[0]
    try:
        folds, per = (int(head[0]), int(head[1])) if len(head) == 2 else (1, int(head[0]))
    except ValueError:
        raise DatasetError("the first line of a pairs file is 'folds pairs_per_class'", None,
                           "use LFW's pairs.txt") from None
    body = lines[1:]
    if len(body) != folds * 2 * per:
        raise DatasetError(f"pairs file has {len(body)} pairs, its header promises "
                           f"{folds * 2 * per}", None, "use LFW's unmodified pairs.txt")
    left, right, same, fold = [], [], [], []
    for k, f in enumerate(body):
        if len(f) == 3:
            a, b, s = lfw_image(lfw_dir, f[0], int(f[1])), lfw_image(lfw_dir, f[0], int(f[2])), 1
        elif len(f) == 4:
            a, b, s = lfw_image(lfw_dir, f[0], int(f[1])), lfw_image(lfw_dir, f[2], int(f[3])), 0
        else:
            raise DatasetError(f"line {k + 2} of the pairs file is not a pair: {' '.join(f)}",
                               None, "use LFW's unmodified pairs.txt")
        left.append(a)
        right.append(b)
        same.append(s)
        fold.append(k // (2 * per))
    return Pairs(left, right, np.array(same, bool), np.array(fold, int))


def subset_pairs(pairs: Pairs, per_class: int) -> Pairs:
    """The first ``per_class`` same-person and different-person pairs of each fold (a smaller
    run of the same protocol, for slow backends)."""
    keep: list[int] = []
    for k in np.unique(pairs.fold):
        for s in (True, False):
            keep += np.flatnonzero((pairs.fold == k) & (pairs.same == s))[:per_class].tolist()
    keep.sort()
    return Pairs([pairs.left[i] for i in keep], [pairs.right[i] for i in keep], pairs.same[keep],
                 pairs.fold[keep])


def split_shots(people: dict[str, list[Path]], shots: int, min_photos: int
                ) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    """People with ≥ ``min_photos`` photos: the first ``shots`` (sorted) train, the rest test."""
    names = sorted(p for p, files in people.items() if len(files) >= min_photos)
    train, test = [], []
    for k, name in enumerate(names):
        files = sorted(people[name])
        train += [(f, k) for f in files[:shots]]
        test += [(f, k) for f in files[shots:]]
    return names, train, test


def lfw_people(lfw_dir: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(lfw_dir.iterdir()) if d.is_dir()}


def find_pairs(data_home: str | Path | None = None) -> tuple[Path, Path]:
    """(``lfw_funneled`` folder, ``pairs.txt``) from ``--data-home``, ``$LOOKALIKE_DATA`` or
    ``../shared/data`` (never downloads)."""
    from lookalike.photos.public import find_lfw

    lfw_dir = find_lfw(data_home, download=False)
    for cand in (lfw_dir.parent / "pairs.txt", lfw_dir / "pairs.txt"):
        if cand.is_file():
            return lfw_dir, cand
    raise DatasetError("no pairs.txt beside the LFW photos", lfw_dir.parent,
                       "put LFW's pairs.txt in lfw_home/ (scikit-learn's loader fetches it)")
