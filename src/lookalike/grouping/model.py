"""A grouping of faces into people: the groups, their faces (most typical first), the faces
that match nobody, and the one JSON shape that the CLI, the Python API and HTTP answer with
(``groups.json``, documented in README.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lookalike.grouping.algorithms import average_linkage, chinese_whispers

#: Version of the groups.json shape.
FORMAT = 1
#: The default way of grouping: average linkage cut at the embedder's same-person threshold,
#: asking two lone faces PENALTY more (bench/NOTES-group.md: measured against Chinese whispers
#: and HDBSCAN on LFW, the wild set and lfw7; whispers chains LFW's 5,748 people into a few
#: hundred groups at that threshold).
DEFAULT_ALGORITHM = "average"
ALGORITHM_NAMES = ("average", "whispers")
PENALTY = 0.15


@dataclass
class FaceItem:
    """One face: where it is (the photo as given, the box in the photo's pixels), its key
    (``content digest:x,y,w,h``) and, in a group, its cosine similarity to the group's
    centre; ``unsure``: below the same-person threshold (it joined through other faces)."""

    photo: str
    box: list[float]
    key: str
    similarity: float | None = None
    unsure: bool = False
    copies: list[str] = field(default_factory=list)  # byte-identical photos at other paths

    def to_dict(self, in_group: bool = True) -> dict:
        d: dict = {"photo": self.photo, "box": [round(float(v), 1) for v in self.box]}
        if in_group:
            d["similarity"] = None if self.similarity is None else round(self.similarity, 4)
            d["unsure"] = self.unsure
        d["key"] = self.key
        if self.copies:
            d["copies"] = list(self.copies)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FaceItem:
        return cls(str(d["photo"]), [float(v) for v in d["box"]], str(d["key"]),
                   d.get("similarity"), bool(d.get("unsure", False)),
                   [str(c) for c in d.get("copies", [])])


@dataclass
class Group:
    id: int
    faces: list[FaceItem]
    name: str | None = None
    tightness: float = 1.0  # mean similarity of its faces to its centre

    @property
    def folder(self) -> str:
        """The group's folder in OUT/: its name once named, else ``group-007``."""
        return self.name if self.name else f"group-{self.id:03d}"

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "folder": self.folder,
                "size": len(self.faces), "tightness": round(float(self.tightness), 4),
                "faces": [f.to_dict() for f in self.faces]}

    @classmethod
    def from_dict(cls, d: dict) -> Group:
        return cls(int(d["id"]), [FaceItem.from_dict(f) for f in d["faces"]], d.get("name"),
                   float(d.get("tightness", 1.0)))


@dataclass
class Grouping:
    """The answer of :func:`lookalike.group`."""

    groups: list[Group]
    unsorted: list[FaceItem]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)
    embedder: dict = field(default_factory=dict)
    threshold: float = 0.0
    algorithm: str = DEFAULT_ALGORITHM
    warnings: list[str] = field(default_factory=list)
    #: Each face's aligned thumbnail (JPEG) by key, for the report and the page (not in JSON).
    thumbs: dict[str, bytes] = field(default_factory=dict, repr=False)

    def group(self, gid: int) -> Group:
        for g in self.groups:
            if g.id == gid:
                return g
        raise KeyError(gid)

    def to_dict(self) -> dict:
        from lookalike.schema import stamp

        return stamp("group", {
            "format": FORMAT, "embedder": self.embedder, "threshold": self.threshold,
            "algorithm": self.algorithm,
            "groups": [g.to_dict() for g in self.groups],
            "unsorted": [f.to_dict(in_group=False) for f in self.unsorted],
            "skipped": [{"photo": p, "why": w} for p, w in self.skipped],
            "warnings": list(self.warnings)})

    @classmethod
    def from_dict(cls, d: dict) -> Grouping:
        return cls([Group.from_dict(g) for g in d.get("groups", [])],
                   [FaceItem.from_dict(f) for f in d.get("unsorted", [])],
                   [(s["photo"], s["why"]) for s in d.get("skipped", [])],
                   dict(d.get("embedder", {})), float(d.get("threshold", 0.0)),
                   str(d.get("algorithm", DEFAULT_ALGORITHM)), list(d.get("warnings", [])))


def cluster(X: np.ndarray, threshold: float, algorithm: str = DEFAULT_ALGORITHM,
            fixed: np.ndarray | None = None) -> np.ndarray:
    """A label per face (faces alone in their label match nobody). ``fixed``: the label each
    face already has (-1: none); faces with one keep it, and two fixed labels never merge."""
    if algorithm == "whispers":
        return chinese_whispers(X, threshold, fixed=fixed)
    if algorithm == "average":
        return average_linkage(X, threshold, fixed=fixed, penalty=PENALTY)
    raise ValueError(f"unknown grouping algorithm {algorithm!r}: {', '.join(ALGORITHM_NAMES)}")


def describe(faces: list[FaceItem], X: np.ndarray, threshold: float) -> tuple[list[FaceItem],
                                                                             float]:
    """A group's faces most typical first (by similarity to its centre), each face's
    similarity and unsure flag set, and the group's tightness."""
    centre = X.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    sims = X @ (centre / norm) if norm > 0 else np.ones(len(X))
    order = np.argsort(-sims, kind="stable")
    out = []
    for i in order.tolist():
        f = faces[i]
        f.similarity = float(sims[i])
        f.unsure = bool(sims[i] < threshold)
        out.append(f)
    return out, float(sims.mean()) if len(sims) else 1.0
