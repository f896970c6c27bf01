"""Which face of a photo the answer is for, once the model knows the people.

Two questions, two rules:

- **prominence** (:data:`PROMINENT`): "whom does *this* face look like?", a look-alike query
  of a stranger. The answer is for the face the photo is most about by its looks (size,
  centrality, face-likeness: :mod:`lookalike.face.choose`). Known people elsewhere in the photo (a
  poster behind the user, a celebrity beside a fan) must not take the answer over.
- **known person** (:data:`KNOWN`): "who is this photo of?", asked of photos filed under a
  person (``evaluate``), of several photos of one person (``--together``) and of training and
  enrolment photos. A face that is confidently one of the model's people (its best similarity
  at or above the same-person threshold) is stronger evidence of whom the photo is about than
  prominence: the stranger or blurred face beside a known person is not the subject. Among
  several known faces the most similar one is taken (on the wild development set's 5 folds,
  936 photos: 98.7 % top-1, against 97.1 % for the most prominent known face and 95.1 % for
  the most prominent face; BENCHMARKS.md, "Real web photos").

A recognizer without a same-person threshold (the article's CNN) has no "confidently known":
its answers keep prominence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from lookalike.answer.ranking import FaceResult, PhotoResult
from lookalike.face.choose import eligible

#: Answer for the face the photo is most about by its looks.
PROMINENT = "prominent"
#: Answer for the face that is most confidently one of the known people, if any.
KNOWN = "known"
SUBJECTS = (PROMINENT, KNOWN)


def known_index(faces: Sequence[FaceResult]) -> int | None:
    """The index (into ``faces``) of the most confidently known face that looks like a face
    (:func:`lookalike.face.choose.eligible`), or None when no face is known."""
    best, best_sim = None, float("-inf")
    for i, fr in enumerate(faces):
        if fr.unknown or fr.best_similarity is None or not eligible(fr.face):
            continue
        if fr.best_similarity > best_sim:
            best, best_sim = i, float(fr.best_similarity)
    return best


def choose_subject(result: PhotoResult, subject: str = KNOWN,
                   all_faces: bool = False) -> PhotoResult:
    """``result`` (every face of the photo, in the photo's face order) with the face the
    answer is for first and marked (``chosen_by``); without ``all_faces`` that face alone.
    The faces keep their ``index`` (which face of the photo each one is)."""
    if not result.faces:
        return result
    first = known_index(result.faces) if subject == KNOWN else None
    how = "known person" if first is not None else "prominence"
    first = 0 if first is None else first
    chosen = replace(result.faces[first], chosen_by=how)
    rest = ([replace(f, chosen_by=None) for i, f in enumerate(result.faces) if i != first]
            if all_faces else [])
    return replace(result, faces=[chosen, *rest])


def check_subject(subject: str) -> str:
    from lookalike.errors import LookalikeError

    if subject not in SUBJECTS:
        raise LookalikeError(f"unknown subject rule {subject!r}",
                             fix=f"choose one of {', '.join(SUBJECTS)}")
    return subject
