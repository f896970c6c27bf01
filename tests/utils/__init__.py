"""Helpers the tests (and a few bench scripts) import: ``from tests.utils import astronaut``.

Fixtures stay in ``tests/conftest.py``; plain functions and constants live here, so that no test
has to ``from tests.utils import`` (which finds whichever conftest module was imported first).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.utils.cli import CMD, SCRIPT, Paused
from tests.utils.faces import detector
from tests.utils.photos import astronaut, encode, grace_hopper, group_shot, variants, write_people

REPO = Path(__file__).resolve().parents[2]
#: ``$LOOKALIKE_SHARED_DATA`` or ``../shared/data`` beside the repository (LFW, lfw7, wild).
SHARED_DATA = Path(os.environ.get("LOOKALIKE_SHARED_DATA", REPO.parent / "shared" / "data"))

__all__ = ["CMD", "REPO", "SCRIPT", "SHARED_DATA", "Paused", "astronaut", "detector", "encode",
           "grace_hopper", "group_shot", "variants", "write_people"]
