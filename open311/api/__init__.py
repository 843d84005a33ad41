"""The GeoReport v2 HTTP API, one module per resource, under ``/open311/v2``."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, request
from marshmallow import Schema

from open311.errors import ApiError
from open311.jurisdictions import resolve_jurisdiction
from open311.models import Jurisdiction
from schemas.inputs import JurisdictionQuery, query_to_dict

bp = Blueprint("georeport", __name__, url_prefix="/open311/v2")

#: Werkzeug's ``any`` converter: anything but these suffixes falls through to a 404.
FMT = "<any(json, xml):fmt>"


def load_query(schema: Schema, list_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load the query string with ``schema``; bad values raise a 400 (via the error handler)."""
    loaded: dict[str, Any] = schema.load(query_to_dict(request.args, list_fields))
    return loaded


def given_key() -> str | None:
    """The ``api_key`` of this call: the form's when it has one, else the query string's."""
    return request.form.get("api_key") or request.args.get("api_key")


def jurisdiction_from_query() -> Jurisdiction | None:
    """Resolve the jurisdiction of a GET call that takes no other parameters."""
    args = load_query(JurisdictionQuery())
    return resolve_jurisdiction(args.get("jurisdiction_id"))


def _is_utf8(encoded: bytes) -> bool:
    try:
        unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@bp.before_request
def _require_utf8() -> None:
    # Werkzeug keeps undecodable %XX sequences as literal text; storing that would silently
    # change what the resident wrote, so refuse it instead (spec: inbound text is UTF-8).
    if not _is_utf8(request.query_string):
        raise ApiError(400, "The query string is not valid percent-encoded UTF-8.")
    if request.mimetype == "application/x-www-form-urlencoded" and not _is_utf8(
        request.get_data(cache=True)
    ):
        raise ApiError(400, "The form body is not valid percent-encoded UTF-8.")


@bp.after_request
def _cors(response: Response) -> Response:
    # The feed is public; browsers of civic apps on other origins may read it (§3.36).
    if request.method == "GET":
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


from open311.api import (  # noqa: E402, F401
    admin,
    discovery,
    feeds,
    limits,
    openapi,
    requests,
    services,
    subscriptions,
    tokens,
    updates,
)
