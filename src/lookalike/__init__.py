"""lookalike: who does this face look like?

Learn people from a folder of photos (one sub-folder per person) and rank, with calibrated
percentages, whom a new face resembles. Offline, on a CPU. Nothing heavy is imported or loaded
until it is used::

    import lookalike
    model = lookalike.train("photos/")            # DATA/<person>/*.jpg
    model.save("people.lookalike")
    result = lookalike.load("people.lookalike").predict("me.jpg")
    for m in result.faces[0].ranking:
        print(m.person, f"{m.probability:.1%}")
    answer = lookalike.compare("a.jpg", "b.jpg")   # two photos: the same person?
    print(answer.similarity, answer.same_person, answer.probability)
    print(lookalike.explain("a.jpg", "b.jpg").sentence)   # why alike: "mostly the eyes ..."
    people = lookalike.group(["camera-roll/"], out="people/")  # unlabelled photos → people
"""

from __future__ import annotations

from lookalike._version import __version__

__all__ = ["__version__", "compare", "evaluate", "explain", "group", "load", "train"]


def __getattr__(name: str):
    if name == "train":
        from lookalike.models.train import train

        return train
    if name == "load":
        from lookalike.models.kinds import load

        return load
    if name == "compare":
        from lookalike.answer.comparison import compare

        return compare
    if name == "explain":
        from lookalike.answer.explain import explain

        return explain
    if name == "group":
        from lookalike.grouping.api import group

        return group
    if name == "evaluate":
        from lookalike.measure.evaluate import evaluate

        return evaluate
    raise AttributeError(name)
