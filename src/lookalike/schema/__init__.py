"""The answers' contract: one JSON Schema (draft 2020-12) per answer the project prints or
serves, and the ``"schema"`` field that says which one a document holds to.

Every answer document starts with ``"schema": "lookalike/<answer>/<version>"`` (e.g.
``"lookalike/predict/1"``), set by :func:`stamp` in the one place that builds that answer.
The schema itself is ``<answer>-<version>.json`` beside this module (``$id``
``urn:lookalike:<answer>:<version>``); ``common-1.json`` holds the pieces they share (box,
landmarks, face, match, ranking…). The web API's OpenAPI document declares the same schemas
(:func:`openapi_components`).

The rule: a shape change — a field added, removed, renamed, retyped or moved — is a new
version. Bump the answer's number in :data:`VERSIONS`, add ``<answer>-<new>.json`` (keep the
old file: documents that name it still validate), and say it in CHANGELOG.md.

To add an answer (group, why, video…): write ``<answer>-1.json`` here (``$id``
``urn:lookalike:<answer>:1``, ``"schema": {"const": "lookalike/<answer>/1"}``, ``$ref`` to
``urn:lookalike:common:1#/$defs/...`` for shared pieces), add ``"<answer>": 1`` to
:data:`VERSIONS`, build the document with ``stamp("<answer>", {...})``, and (for an HTTP
route) pass ``responses=answer_responses("<answer>")`` from :mod:`lookalike.web.openapi`.
``tests/test_schema.py`` then checks the file is a valid schema.

Nothing here imports ``jsonschema`` until :func:`validator` is called (a test dependency).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

#: Each answer's current schema version. A shape change is a new version (CHANGELOG.md).
VERSIONS: dict[str, int] = {
    "photo": 1,           # PhotoResult.to_dict(); HTTP /api/predict
    "verdict": 1,         # Verdict.to_dict()
    "predict": 1,         # predict --json; HTTP /api/verdict
    "gallery-search": 1,  # gallery search --json
    "compare": 1,         # Comparison.to_dict(): compare --json, HTTP /api/compare
    "compare-many": 2,    # ManyComparison.to_dict(): compare A B C --json, /api/compare/many
    "group": 1,           # Grouping.to_dict(): groups.json, group --json, HTTP /api/group
    "video": 1,           # VideoResult.to_dict(): predict CLIP --json's videos, /api/video
    "live": 1,            # HTTP POST /api/live (one camera frame)
    "live-end": 1,        # HTTP DELETE /api/live
    "video-limits": 1,    # HTTP GET /api/video/limits
    "evaluate": 1,        # evaluate --json
    "train": 1,           # train --json (both recipes)
    "info": 1,            # info --json
    "enrolment": 1,       # gallery add / create --from --json
    "gallery-list": 1,    # gallery list --json
    "health": 1,          # HTTP /healthz
    "server": 1,          # HTTP /api/info
    "people": 1,          # HTTP /api/people
    "people-change": 1,   # HTTP POST /api/people/{name}/photos, DELETE /api/people/{name}
    "error": 1,           # every HTTP error body {"error", "detail"} (no "schema" field)
}
#: The shared definitions' file (not an answer, never stamped).
COMMON = "common"
_FILE = re.compile(r"^(?P<name>[a-z][a-z-]*)-(?P<version>[0-9]+)\.json$")
_TAG = re.compile(r"^lookalike/(?P<name>[a-z][a-z-]*)/(?P<version>[0-9]+)$")
_URN = re.compile(r"^urn:lookalike:(?P<name>[a-z][a-z-]*):(?P<version>[0-9]+)$")


def tag(name: str, version: int | None = None) -> str:
    """The ``"schema"`` value of an answer: ``lookalike/<name>/<version>`` (default: current)."""
    return f"lookalike/{name}/{VERSIONS[name] if version is None else version}"


def stamp(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with ``"schema"`` (the answer's current tag) as its first field."""
    return {"schema": tag(name), **doc}


def uri(name: str, version: int | None = None) -> str:
    """The ``$id`` of a schema: ``urn:lookalike:<name>:<version>``."""
    v = VERSIONS.get(name, 1) if version is None else version
    return f"urn:lookalike:{name}:{v}"


def files() -> dict[tuple[str, int], str]:
    """Every schema file shipped, by (name, version), old versions included."""
    out = {}
    for entry in resources.files(__name__).iterdir():
        m = _FILE.match(entry.name)
        if m:
            out[(m["name"], int(m["version"]))] = entry.name
    return out


@cache
def _load(name: str, version: int) -> dict[str, Any]:
    filename = files().get((name, version))
    if filename is None:
        raise KeyError(f"no schema lookalike/{name}/{version}")
    return json.loads(resources.files(__name__).joinpath(filename).read_text("utf-8"))


def load(name: str, version: int | None = None) -> dict[str, Any]:
    """The JSON Schema of an answer (a fresh copy; default: the current version)."""
    v = (VERSIONS.get(name, 1) if version is None else version)
    return json.loads(json.dumps(_load(name, v)))


def parse_tag(value: str) -> tuple[str, int]:
    """``"lookalike/predict/1"`` → ``("predict", 1)``; ValueError for anything else."""
    m = _TAG.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"not a lookalike schema tag: {value!r}")
    return m["name"], int(m["version"])


def registry():
    """A :class:`referencing.Registry` of every shipped schema, by ``$id``."""
    from referencing import Registry, Resource

    return Registry().with_resources(
        (_load(n, v)["$id"], Resource.from_contents(_load(n, v))) for n, v in files())


def validator(name: str, version: int | None = None):
    """A ``jsonschema`` validator for an answer's schema (needs the ``jsonschema`` package)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load(name, version), registry=registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate(doc: Any, name: str | None = None, version: int | None = None) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``doc`` holds to its schema: ``name``'s, else
    the one its ``"schema"`` field names."""
    if name is None:
        name, version = parse_tag(doc.get("schema") if isinstance(doc, dict) else None)
    from jsonschema.exceptions import best_match

    error = best_match(validator(name, version).iter_errors(doc))
    if error is not None:
        raise error


# -- OpenAPI ---------------------------------------------------------------------------------

def component_name(name: str, version: int, definition: str | None = None) -> str:
    """The OpenAPI component of a schema (or of one of its ``$defs``):
    ``lookalike.<name>.<version>[.<definition>]``."""
    return ".".join(["lookalike", name, str(version), *([definition] if definition else [])])


def _rewrite(node: Any, here: tuple[str, int]) -> Any:
    """A schema with its ``$ref`` s pointing into ``#/components/schemas``."""
    if isinstance(node, list):
        return [_rewrite(v, here) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref":
            target, _, fragment = value.partition("#")
            m = _URN.match(target) if target else None
            if target and not m:
                raise ValueError(f"{component_name(*here)}: cannot place $ref {value!r}")
            name, version = (m["name"], int(m["version"])) if m else here
            definition = fragment.removeprefix("/$defs/") if fragment else None
            if definition and "/" in definition:
                raise ValueError(f"{component_name(*here)}: cannot place $ref {value!r}")
            out[key] = "#/components/schemas/" + component_name(name, version, definition)
        else:
            out[key] = _rewrite(value, here)
    return out


def openapi_components() -> dict[str, dict[str, Any]]:
    """Every shipped schema (and each of its ``$defs``) as OpenAPI 3.1 component schemas, their
    ``$ref`` s rewritten to ``#/components/schemas/…``; each root keeps its ``$id`` as
    ``x-lookalike-schema``."""
    out: dict[str, dict[str, Any]] = {}
    for name, version in sorted(files()):
        doc = load(name, version)
        for definition, body in doc.pop("$defs", {}).items():
            out[component_name(name, version, definition)] = _rewrite(body, (name, version))
        doc.pop("$schema", None)
        sid = doc.pop("$id")
        if name != COMMON:
            out[component_name(name, version)] = _rewrite(doc, (name, version)) | {
                "x-lookalike-schema": sid}
    return out


__all__ = ["COMMON", "VERSIONS", "component_name", "files", "load", "openapi_components",
           "parse_tag", "registry", "stamp", "tag", "uri", "validate", "validator"]
