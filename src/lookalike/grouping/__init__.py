"""Grouping the faces of unlabelled photos into people (``lookalike group``): the kNN graph
(:mod:`.graph`), the algorithms (:mod:`.algorithms`), the answer's shape (:mod:`.model`), the
OUT/ folder (:mod:`.store`), naming, merging and splitting (:mod:`.edit`) and
:func:`lookalike.group` (:mod:`.api`). Nothing heavy is imported here."""

from __future__ import annotations

__all__ = ["group"]


def group(*args, **kwargs):
    """See :func:`lookalike.grouping.api.group`."""
    from lookalike.grouping.api import group as _group

    return _group(*args, **kwargs)
