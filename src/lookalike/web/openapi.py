"""The web API's OpenAPI document declares the answers' JSON Schemas (:mod:`lookalike.schema`).

Routes name their answer with ``responses=answer_responses("photo")``: the 200 response's
``application/json`` schema is a ``$ref`` to the component ``lookalike.photo.1``, and the
error statuses to ``lookalike.error.1``. :func:`declare_schemas` adds every shipped schema as
a component when the document is built. This only documents: what a route returns is
unchanged (routes that name an answer pass ``response_model=None``, so FastAPI neither
filters their answer nor declares a second, generic schema for it).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from lookalike.schema import VERSIONS, component_name, tag

#: The statuses the API answers errors with, all as ``{"error", "detail"}``.
ERROR_STATUSES = {400: "Bad request (e.g. not the fields expected)",
                  401: "Missing or wrong bearer token", 403: "Changes are turned off",
                  404: "Nothing there", 409: "Not possible with what is served",
                  413: "Upload too large", 415: "Not a supported photo type",
                  422: "No face found, unreadable photo, or invalid request"}


def ref(name: str) -> dict[str, str]:
    """A ``$ref`` to an answer's current schema among the components."""
    return {"$ref": "#/components/schemas/" + component_name(name, VERSIONS[name])}


def answer_responses(name: str, errors: tuple[int, ...] = (400, 413, 415, 422)
                     ) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose answer is the schema ``name``."""
    out: dict[int | str, dict[str, Any]] = {
        200: {"description": f"The answer ({tag(name)})",
              "content": {"application/json": {"schema": ref(name)}}}}
    for status in errors:
        out[status] = {"description": ERROR_STATUSES.get(status, "Error"),
                       "content": {"application/json": {"schema": ref("error")}}}
    return out


def declare_schemas(app: FastAPI) -> None:
    """Make ``app.openapi()`` carry every answer schema as a component, and declare every
    JSON error response as ``lookalike.error.1`` (FastAPI's own 422 model,
    ``HTTPValidationError``, is not what this app answers: its handler gives
    ``{"error": "invalid_request", "detail": ...}``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from lookalike.schema import openapi_components

            doc = build()
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(openapi_components())
            for operations in doc.get("paths", {}).values():
                for op in operations.values():
                    for status, response in op.get("responses", {}).items():
                        body = response.get("content", {}).get("application/json")
                        if str(status).startswith(("4", "5")) and body is not None:
                            body["schema"] = ref("error")
            if "HTTPValidationError" not in json.dumps(doc.get("paths", {})):
                schemas.pop("HTTPValidationError", None)
                schemas.pop("ValidationError", None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
