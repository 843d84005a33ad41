"""``GET openapi.json``: the OpenAPI document of this API."""

from __future__ import annotations

from flask import Response, current_app

from open311.api import bp
from open311.formats import to_json
from open311.openapi import build_spec


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document, built once per process from the URL map and the schemas."""
    cached = current_app.extensions["open311"].get("openapi")
    if cached is None:
        cached = current_app.extensions["open311"]["openapi"] = to_json(build_spec(current_app))
    response = Response(cached)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response
