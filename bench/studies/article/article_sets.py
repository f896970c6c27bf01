"""Fixed sets of 7 LFW people × 30 photos, shaped like lfw7, for the article recipe's benchmark
across sets (bench/studies/article/bench_article_sets.py, issue 16).

    python -m bench.studies.article.article_sets            # print the sets, check the definition
    python -m bench.studies.article.article_sets --write    # (re)write article_sets.json
    python -m bench.studies.article.article_sets --layout DIR   # DIR/set1 ... DIR/set6 as links

The definition committed in ``article_sets.json`` is what every session runs; ``--write``
only regenerates it from the rule below (and says if it would change it).

The rule: the people of ``lfw_home/lfw_funneled`` with at least 30 photos (34 people), minus the
7 of lfw7 (the recipe's defaults were tuned on them): 27 people. 27 people cannot make 6
disjoint sets of 7, so the sets come in two rounds, with their overlap chosen and documented:

- round 1: a shuffle of the 27 (``random.Random(DRAW_SEED)``) cut into 3 disjoint sets (21
  people); 6 people are left;
- round 2: 3 more disjoint sets, each with 2 of the 6 left over and 5 people of round 1 (2, 2
  and 1 from round 1's three sets, rotating), drawn in shuffled order;

so every eligible person is in at least one set, and two sets share at most 2 people.

Each person's photos: the first 30 file names in sorted order, every 5th (the 5th, 10th, ...,
30th) to validation, as lfw7 was made: 24 train / 6 validation per person, 168 / 42 per set.
``layout`` lays a set out as symbolic links ``DIR/<set>/{train,validation}/<person>/*.jpg``
(outside the repository and outside shared/).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from bench.common import REPO, lfw7, lfw_funneled  # noqa: E402

DEFINITION = Path(__file__).resolve().parent / "article_sets.json"
MIN_PHOTOS = 30
PHOTOS = 30
EVERY = 5  # every 5th photo to validation
PEOPLE = 7
DRAW_SEED = 16


def eligible(root: Path, min_photos: int = MIN_PHOTOS) -> dict[str, int]:
    """People (folder names) with at least ``min_photos`` JPEGs, and their photo counts."""
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        n = sum(1 for f in d.iterdir() if f.suffix.lower() == ".jpg")
        if n >= min_photos:
            out[d.name] = n
    return out


def draw(names: list[str], seed: int = DRAW_SEED) -> list[list[str]]:
    """Six sets of 7 from ``names`` (27 people) by the two-round rule of the module's doc."""
    pool = sorted(names)
    if len(pool) < 3 * PEOPLE + 3:
        raise ValueError(f"need at least {3 * PEOPLE + 3} people, got {len(pool)}")
    rng = random.Random(seed)
    rng.shuffle(pool)
    first = [pool[i * PEOPLE:(i + 1) * PEOPLE] for i in range(3)]
    left = pool[3 * PEOPLE:]
    rng.shuffle(left)
    take = [[2, 2, 1], [1, 2, 2], [2, 1, 2]]  # round 2 set j takes take[j][i] of round 1 set i
    shuffled = [rng.sample(s, len(s)) for s in first]
    used = [0, 0, 0]
    second = []
    for j in range(3):
        members = list(left[2 * j:2 * j + 2])  # beyond 27 eligible, the rest stay out
        for i in range(3):
            members += shuffled[i][used[i]:used[i] + take[j][i]]
            used[i] += take[j][i]
        second.append(members)
    return [sorted(s) for s in first + second]


def definition() -> dict:
    """The set definition from the rule (what ``--write`` writes)."""
    people = eligible(lfw_funneled())
    excluded = sorted(p.name for p in (lfw7() / "train").iterdir() if p.is_dir())
    sets = draw([p for p in people if p not in excluded])
    return {
        "source": "lfw_home/lfw_funneled (LFW web copies, 150x150)",
        "rule": "people with >= 30 photos minus lfw7's 7; random.Random(16): round 1 = 3 "
                "disjoint sets, round 2 = 3 disjoint sets of 2 left-over + 5 round-1 people; "
                "first 30 sorted photos per person, every 5th to validation",
        "min_photos": MIN_PHOTOS, "eligible_people": len(people),
        "eligible": people, "excluded_lfw7": excluded, "draw_seed": DRAW_SEED,
        "photos_per_person": PHOTOS, "validation_every": EVERY,
        "sets": {f"set{k + 1}": s for k, s in enumerate(sets)},
    }


def load() -> dict:
    return json.loads(DEFINITION.read_text())


def split(person_dir: Path) -> tuple[list[Path], list[Path]]:
    """(train, validation) photos of one person: the first 30 sorted, every 5th to validation."""
    photos = sorted(f for f in person_dir.iterdir() if f.suffix.lower() == ".jpg")[:PHOTOS]
    if len(photos) < PHOTOS:
        raise ValueError(f"{person_dir}: {len(photos)} photos, the sets need {PHOTOS}")
    val = [f for k, f in enumerate(photos) if k % EVERY == EVERY - 1]
    return [f for k, f in enumerate(photos) if k % EVERY != EVERY - 1], val


def layout(name: str, people: list[str], work: Path, source: Path | None = None) -> Path:
    """Lay set ``name`` out as ``work/name/{train,validation}/<person>/`` symbolic links."""
    source = source or lfw_funneled()
    root = work / name
    for person in people:
        tr, va = split(source / person)
        for subset, files in (("train", tr), ("validation", va)):
            d = root / subset / person
            d.mkdir(parents=True, exist_ok=True)
            for f in files:
                link = d / f.name
                if not link.is_symlink():
                    link.symlink_to(f)
    return root


def overlaps(sets: dict[str, list[str]]) -> dict[tuple[str, str], int]:
    keys = list(sets)
    return {(a, b): len(set(sets[a]) & set(sets[b])) for i, a in enumerate(keys)
            for b in keys[i + 1:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="(re)write article_sets.json")
    ap.add_argument("--layout", type=Path, metavar="DIR",
                    help="lay the committed sets out under DIR (symbolic links) and exit")
    args = ap.parse_args()
    if args.layout:
        for name, people in load()["sets"].items():
            print(layout(name, people, args.layout))
        return 0
    new = definition()
    old = load() if DEFINITION.exists() else None
    if args.write:
        DEFINITION.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {DEFINITION.relative_to(REPO)}")
    elif old is not None and old["sets"] != new["sets"]:
        print("the committed definition differs from the rule's draw (the committed one is "
              "what the benchmark runs)")
    sets = (new if args.write or old is None else old)["sets"]
    print(f"{new['eligible_people']} LFW people with >= {MIN_PHOTOS} photos; "
          f"{len(new['excluded_lfw7'])} of them are lfw7 (excluded)")
    for name, people in sets.items():
        print(f"{name}: {', '.join(people)}")
    ov = overlaps(sets)
    print(f"largest overlap between two sets: {max(ov.values())} people; pairs sharing any: "
          f"{sum(1 for v in ov.values() if v)} of {len(ov)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
