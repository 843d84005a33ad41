"""``GET requests.geojson`` and ``GET requests.csv``: the bulk feeds, streamed.

They take the filters of ``GET requests`` (the window included, so the whole history is
``updated_after=1970-01-01T00:00:00Z``) but are not paged: every matching request comes in
one streamed answer. Bad input is refused before the first byte is sent.
"""

from __future__ import annotations

from flask import Response, current_app, stream_with_context

from open311 import bulk
from open311.api import bp, load_query
from open311.config import Settings
from open311.errors import ApiError
from open311.jurisdictions import resolve_jurisdiction
from schemas.inputs import RequestsQuery

#: Query parameters of ``GET requests`` that make no sense for a one-piece bulk answer.
NOT_FOR_BULK = ("page", "page_size", "cursor", "extensions")


def bulk_response(fmt: str) -> Response:
    """Validate the query, then stream every matching request in ``fmt``."""
    args = load_query(RequestsQuery(), RequestsQuery.LIST_FIELDS)
    refused = [name for name in NOT_FOR_BULK if name in args]
    if refused:
        raise ApiError(
            400,
            *(f"{name}: not available on the bulk feeds, which are not paged." for name in refused),
        )
    jurisdiction = resolve_jurisdiction(args.get("jurisdiction_id"))
    settings: Settings = current_app.extensions["open311"]["settings"]
    query = bulk.bulk_query(jurisdiction, args, settings)
    chunks = bulk.WRITERS[fmt](bulk.public_rows(query))
    response = Response(stream_with_context(chunks), mimetype=None)
    response.headers["Content-Type"] = bulk.MIMETYPES[fmt]
    if fmt == "csv":
        response.headers["Content-Disposition"] = 'attachment; filename="requests.csv"'
    return response


@bp.get("/requests.geojson")
def requests_geojson() -> Response:
    """Matching requests as a GeoJSON FeatureCollection (no geometry when not located)."""
    return bulk_response("geojson")


@bp.get("/requests.csv")
def requests_csv() -> Response:
    """Matching requests as CSV, one row each, columns named as in GeoReport."""
    return bulk_response("csv")
