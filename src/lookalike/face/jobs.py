"""The records of analysing many photos: a :class:`Job` (one photo to analyse) goes in and an
:class:`Analysed` (its faces or why there are none) comes out, the same record wherever the
photo is analysed — in this process, a process pool (:mod:`.many`) or on Dask workers
(:mod:`.cluster`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lookalike.face.pipeline import PhotoFaces


@dataclass
class Job:
    """One photo to analyse: the caller's id for it (``task``), where it is (``path``; the
    name of bytes given), its content hash when known, its bytes when read already, and
    whether only its most prominent face is wanted. ``person`` and ``source`` ride along for
    the callers that store rows (gallery enrolment)."""

    task: int
    path: str
    digest: str = ""
    first_only: bool = False
    data: bytes | None = None
    person: str = ""
    source: str = ""

    @property
    def name(self) -> str:
        return self.source or self.path


@dataclass
class Analysed:
    """What became of one job: its faces (None when the photo could not be read, ``error``
    says why), most prominent first."""

    job: Job
    faces: PhotoFaces | None
    error: str | None = None

    @property
    def task(self) -> int:
        return self.job.task

    @property
    def digest(self) -> str:
        return self.faces.digest if self.faces is not None else self.job.digest


def jobs_for(photos: Iterable[str | Path]) -> list[Job]:
    """Jobs for photo paths, numbered in order."""
    return [Job(i, str(p)) for i, p in enumerate(photos)]
