"""Bulk feeds: every matching request as CSV, GeoJSON or a GeoReport JSON list, streamed.

The whole history of a large city does not fit in memory, so rows are read from a
server-side cursor in batches and written out as they come; nothing here builds ORM objects
or holds more than one batch. Only the 17 public GeoReport fields are ever selected, so
personal data cannot reach a bulk feed whatever the filters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import select

from open311.config import Settings
from open311.extensions import db
from open311.models import Jurisdiction, ServiceRequest
from open311.publish import FIELD_NAMES, public_select, wire_rows
from open311.search import REQUESTED, Window, conditions, sort_columns, sort_mode

BATCH = 2000

#: Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def bulk_query(jurisdiction: Jurisdiction | None, args: dict[str, Any], settings: Settings) -> Any:
    """The select of public columns for a loaded query, in the listing's order, uncapped."""
    query = public_select(jurisdiction)
    if "service_request_id" in args:
        return query.where(
            ServiceRequest.service_request_id.in_(args["service_request_id"])
        ).order_by(ServiceRequest.requested_datetime.desc(), ServiceRequest.id.desc())
    query = query.where(*conditions(args, Window(settings.window_days, settings.max_requests)))
    mode = sort_mode(args)
    moment, pk = sort_columns(mode)
    if mode == REQUESTED:
        return query.order_by(moment.desc(), pk.desc())
    return query.order_by(moment.asc(), pk.asc())


def count(query: Any) -> int:
    """How many rows ``query`` yields (for progress bars and ``X-Total-Count``)."""
    counted = select(sa.func.count()).select_from(query.order_by(None).subquery())
    return int(db.session.scalar(counted) or 0)


def public_rows(query: Any) -> Iterator[dict[str, Any]]:
    """Rows of ``query`` as dicts of wire values, read in batches from a server-side cursor."""
    yield from wire_rows(db.session.execute(query.execution_options(yield_per=BATCH)).tuples())


def escape_cell(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would run as a formula, by a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(rows: Iterable[dict[str, Any]], batch: int = 500) -> Iterator[str]:
    """CSV text: a header of GeoReport field names, then one line per request.

    Text cells are escaped against formula injection; ``lat``/``long`` are numbers and left
    alone (a negative longitude is not a formula).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELD_NAMES)
    pending = 0
    starts = _FORMULA_STARTS
    for row in rows:
        # escape_cell inlined: only text can be a formula (lat/long are floats, left alone).
        writer.writerow(
            ["'" + v if type(v) is str and v.startswith(starts) else v for v in row.values()]
        )
        pending += 1
        if pending >= batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def feature(row: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature: the point (or no geometry), every public field as a property."""
    located = row["lat"] is not None and row["long"] is not None
    return {
        "type": "Feature",
        "id": row["service_request_id"],
        "geometry": (
            {"type": "Point", "coordinates": [row["long"], row["lat"]]} if located else None
        ),
        "properties": row,
    }


def geojson_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A GeoJSON FeatureCollection (RFC 7946), written one feature at a time."""
    yield b'{"type":"FeatureCollection","features":['
    separator = b""
    for row in rows:
        yield separator + orjson.dumps(feature(row))
        separator = b","
    yield b"]}"


def json_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The GeoReport JSON list of ``GET requests``, written one request at a time."""
    yield b"["
    separator = b""
    for row in rows:
        yield separator + orjson.dumps(row)
        separator = b","
    yield b"]"


WRITERS = {"csv": csv_chunks, "geojson": geojson_chunks, "json": json_chunks}
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "json": "application/json; charset=utf-8",
}
