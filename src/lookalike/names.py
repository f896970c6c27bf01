"""People's names as shown to people: one rule for every surface.

A person's key is their folder name (``Andre_Agassi``): JSON keeps it (``person``) so that
answers can be matched to folders and galleries. What people read — the CLI's tables, the web
page, cards and reports — is :func:`display_name` (``Andre Agassi``); JSON answers carry it as
``name`` beside ``person``.
"""

from __future__ import annotations


def display_name(person: str) -> str:
    """A person's name for people: folder names often use underscores for spaces, so
    underscores become spaces (runs of them one space); a name that would be empty stays as
    it is."""
    shown = " ".join(person.replace("_", " ").split())
    return shown or person
