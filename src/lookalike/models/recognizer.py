"""What every kind of model offers, so that every surface (CLI, cards, reports, web) asks the
model instead of guessing.

A :class:`Recognizer` ranks whom the faces of a photo resemble. Each kind — a face-embedding
model (:mod:`lookalike.models.model`), a gallery (:mod:`lookalike.models.gallery`), the article's
CNN
(:mod:`lookalike.models.article`) — answers the whole interface; what a kind lacks has a
declared "none" answer (no threshold, no thumbnails, no face pipeline, not editable).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lookalike.answer.ranking import PhotoResult, Verdict, combine
from lookalike.answer.subject import KNOWN, PROMINENT, check_subject, choose_subject
from lookalike.errors import ImageError, LookalikeError
from lookalike.photos.images import PhotoSource
from lookalike.progress import bar
from lookalike.runtime.lanes import each

if TYPE_CHECKING:
    import numpy as np

    from lookalike.face.detector import Face
    from lookalike.face.pipeline import FacePipeline


@runtime_checkable
class Editable(Protocol):
    """The part of a recognizer that learns and forgets people without retraining."""

    def add_photos(self, items: Sequence[tuple], *, workers: int | None = None,
                   progress: bool = True, cache: bool = True) -> Any:
        """Enrol (person, photo path[, source name]) pairs; returns a report with
        ``to_dict()``."""

    def add_uploads(self, person: str, files: Sequence[tuple[str, bytes]]) -> Any:
        """Enrol photos given as (name, bytes) of one person, writing nothing lasting."""

    def remove(self, person: str) -> int:
        """Forget a person; the number of photos removed."""


class Recognizer(ABC):
    """Labels, per-face rankings for a photo, combined verdicts, and what the surfaces show
    beside them. Subclasses implement :meth:`predict`; the rest has a default."""

    manifest: dict[str, Any]
    #: The file or folder it was loaded from (None: built in memory or a database).
    path: Path | None = None
    #: Its calls may run on several threads at once (else: always on one thread).
    thread_safe: bool = False
    #: :meth:`thumbnail` returns the training / enrolled photos' faces.
    has_thumbnails: bool = False
    #: :meth:`predict` takes ``keep_image=True`` and keeps the decoded photo in its answer
    #: (``PhotoResult.image``), so that a card does not decode it again.
    keeps_images: bool = False

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", type(self).__name__.lower()))

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def threshold(self) -> float | None:
        """The similarity under which a face is "none of these" (None: no such notion)."""
        return None

    @property
    def pipeline(self) -> FacePipeline | None:
        """The face pipeline (detector + embedder) answers go through, when it is the shared
        one (None: the recognizer finds and reads faces its own way)."""
        return None

    def thumbnail(self, index: int) -> bytes | None:
        """The JPEG of training / enrolled face ``index`` (as in ``FaceResult.nearest``)."""
        return None

    def editable(self) -> Editable | None:
        """The part that adds and removes people (None: retrain to change people)."""
        return None

    def gradcam(self, rgb: np.ndarray, face: Face, person: str | None = None
                ) -> np.ndarray | None:
        """Where the network looked (a 2-D map over :meth:`crop`); None when it cannot say."""
        return None

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray | None:
        """The face crop the recognizer reads (None: the aligned face of the pipeline)."""
        return None

    @abstractmethod
    def predict(self, photo: PhotoSource, *, all_faces: bool = False,
                name: str | None = None) -> PhotoResult:
        """The ranking for the most prominent face (every face with ``all_faces``)."""

    def predict_subject(self, photo: PhotoSource, *, name: str | None = None,
                        subject: str = "known", all_faces: bool = False,
                        keep_image: bool = False) -> PhotoResult:
        """The answer for the face ``photo`` is about (see :mod:`lookalike.answer.subject`): with
        ``subject="known"`` the face most confidently one of the known people, if any, else
        the most prominent. Every face is answered to decide; the chosen one comes first
        (``chosen_by`` says why), followed by the others with ``all_faces``. ``keep_image``:
        the answer keeps the decoded photo (for a card; where :attr:`keeps_images`)."""
        return self._answer(photo, name, self._by_known(check_subject(subject)), all_faces,
                            keep_image)

    def predict_many(self, photos: Sequence[PhotoSource], *, all_faces: bool = False,
                     together: bool = False, names: Sequence[str] | None = None,
                     subject: str | None = None, keep_images: bool = False,
                     progress: bool = False, side_by_side: bool = True
                     ) -> tuple[list[PhotoResult], Verdict | None]:
        """Answer several photos; ``together`` also combines their subjects' faces into one
        verdict. ``subject``: which face each photo's answer is for ("prominent" or
        "known", :mod:`lookalike.answer.subject`); default "known" with ``together`` (the photos
        are of one person), else "prominent". ``names`` label bytes inputs in results and
        errors. ``keep_images``: each answer keeps its decoded photo (a card draws them).
        ``progress``: a progress bar on stderr (from 8 photos). From 4 photos on, where the
        kind allows, photos are answered side by side (:meth:`lanes`); ``side_by_side=False``:
        one at a time, each with every core (a long-running server: the networks' side-by-side
        variants would stay in memory, ~130–160 MB for SFace and YuNet)."""
        subject = check_subject(subject or (KNOWN if together else PROMINENT))
        known = self._by_known(subject)

        def one(k: int) -> PhotoResult:
            p = photos[k]
            name = names[k] if names else ("<bytes>" if isinstance(p, bytes) else str(p))
            try:
                return self._answer(p, name, known, all_faces or together, keep_images)
            except ImageError as err:
                return PhotoResult(name, [], None, str(err))

        at_once = self.lanes(len(photos)) if side_by_side else 1
        results = list(bar(each(one, range(len(photos)), at_once),
                           total=len(photos), desc="photos", enabled=progress))
        verdict = None
        if together:
            verdict = combine(self.labels, [r.faces[0] for r in results if r.ok], len(photos))
            if verdict is not None and subject == KNOWN:
                results = [_agree(r, verdict.person) for r in results]
                verdict = combine(self.labels, [r.faces[0] for r in results if r.ok],
                                  len(photos))
            if not all_faces:
                results = [replace(r, faces=r.faces[:1]) for r in results]
        return results, verdict

    def lanes(self, photos: int) -> int:
        """How many of ``photos`` :meth:`predict_many` answers at once
        (:mod:`lookalike.runtime.lanes`): 1, one after the other, unless the kind says more."""
        return 1

    def _by_known(self, subject: str) -> bool:
        """Whether answers choose their face by "known person": asked, and this kind has a
        same-person threshold (without one, answers keep prominence)."""
        return subject == KNOWN and self.threshold is not None

    def _answer(self, photo: PhotoSource, name: str | None, known: bool, all_faces: bool,
                keep_image: bool) -> PhotoResult:
        """One photo's answer: the kind's :meth:`predict` (every face when ``known`` decides
        the subject, :func:`lookalike.answer.subject.choose_subject`), called once."""
        if keep_image and self.keeps_images:
            result = self.predict(photo, all_faces=all_faces or known,  # type: ignore[call-arg]
                                  name=name, keep_image=True)
        else:
            result = self.predict(photo, all_faces=all_faces or known, name=name)
        return choose_subject(result, KNOWN, all_faces) if known else result

    def predict_video(self, path: str | Path, **options: Any) -> Any:
        """Who appears in a video file: a :class:`~lookalike.video.VideoResult` (tracks, each
        answered once); ``options`` as :func:`lookalike.video.analyse_video` takes them."""
        from lookalike.video.api import analyse_video

        return analyse_video(self, path, **options)

    def describe(self) -> dict:
        m = self.manifest
        return {k: m.get(k) for k in ("kind", "labels", "embedder", "head", "threshold",
                                      "metrics", "lookalike_version", "created", "runtime")}


class EmbeddingRecognizer(Recognizer):
    """A recognizer that answers through the shared face pipeline named in its manifest."""

    #: A pipeline to use instead of the manifest's (set before the first answer).
    _pipeline: FacePipeline | None = None

    @cached_property
    def pipeline(self) -> FacePipeline:  # type: ignore[override]
        """The face pipeline (detector + embedder) it was built with, made at first use and
        then a plain attribute; an installation whose embedder differs is refused (vectors
        would not compare)."""
        if self._pipeline is None:
            from lookalike.face.pipeline import pipeline_for

            try:
                self._pipeline = pipeline_for(self.manifest["embedder"],
                                              bool(self.manifest.get("crops")))
            except ValueError as err:
                raise self._mismatch(str(err)) from None
        return self._pipeline

    def _mismatch(self, what: str) -> LookalikeError:
        return LookalikeError(f"was built with {what}")


def _agree(result: PhotoResult, person: str) -> PhotoResult:
    """A photo of several known faces whose chosen face is not the verdict's person but
    another known face is: that face is the photo's subject (the photos are of one person)."""
    if not result.ok or result.faces[0].top.person == person:
        return result
    for i, fr in enumerate(result.faces[1:], 1):
        if fr.top.person == person and not fr.unknown:
            chosen = replace(fr, chosen_by="known person (agrees with the other photos)")
            rest = [replace(f, chosen_by=None) for j, f in enumerate(result.faces) if j != i]
            return replace(result, faces=[chosen, *rest])
    return result
