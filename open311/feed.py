"""Reading requests back (``GET requests`` and ``GET requests/{id}``), page by page.

Pages are cut by keyset, not by counting rows: each answer names the sort key of its last
row in a cursor, and the next page starts strictly after it. Rows added or changed while a
client walks the pages therefore never make it see a row twice or miss one; a plain ``page``
number is also accepted, for clients that want to jump.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from open311.config import Settings
from open311.errors import ApiError
from open311.extensions import db
from open311.models import Jurisdiction, ServiceRequest
from open311.models.requests import PUBLISHED
from open311.models.types import UTCDateTime
from open311.ownership import CONTACT_COLUMNS, routed_to, with_contact
from open311.publish import (
    EXTENSION_COLUMNS,
    REQUESTED_AT,
    UPDATED_AT,
    WIDTH,
    public_select,
    to_wire,
    to_wire_extended,
    with_extensions,
)
from open311.search import (
    REQUESTED,
    UPDATED,
    Window,
    base_query,
    conditions,
    date_range,
    sort_columns,
    sort_mode,
)

__all__ = ["Page", "Window", "date_range", "find_one", "find_page", "get_request"]


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows (wire dicts), how many match in all (not counted
    again on pages reached by cursor), and the cursor of the next page."""

    rows: list[dict[str, Any]]
    total: int | None
    page_size: int | None
    next_cursor: str | None


def encode_cursor(mode: str, moment: datetime, pk: int) -> str:
    """An opaque cursor naming a row's position (its sort datetime and key) in ``mode``."""
    raw = f"{mode}|{moment.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, mode: str) -> tuple[datetime, int]:
    """The sort key a cursor names.

    :raises ApiError: 400 when it was not made by this gateway for a listing of this order.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        cursor_mode, moment, pk = raw.split("|")
        key = datetime.fromisoformat(moment), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "cursor: not a cursor given by this gateway.") from None
    if key[0].tzinfo is None or cursor_mode not in (REQUESTED, UPDATED):
        raise ApiError(400, "cursor: not a cursor given by this gateway.")
    if cursor_mode != mode:
        raise ApiError(
            400,
            "cursor: it continues a listing "
            + ("with" if cursor_mode == UPDATED else "without")
            + " updated_after/updated_before; send the same filters with it.",
        )
    return key


def page_size_for(args: dict[str, Any], settings: Settings) -> int:
    """The page size asked for, or the default (the core's cap of ``GET requests``).

    :raises ApiError: 400 above the configured maximum.
    """
    default = min(settings.max_requests, settings.max_page_size)
    size: int = args.get("page_size", default)
    if size > settings.max_page_size:
        raise ApiError(400, f"page_size: at most {settings.max_page_size}.")
    return size


def find_page(
    jurisdiction: Jurisdiction | None,
    args: dict[str, Any],
    settings: Settings,
    *,
    extended: bool = False,
    vendor: str | None = None,
) -> Page:
    """The page of requests a loaded ``GET requests`` query asks for, as wire dicts.

    ``service_request_id`` overrides every other filter, the window, the cap and paging
    (§3.25). Otherwise rows come newest first, or oldest change first when the query filters
    on ``updated_datetime`` (the change feed), always ending on the id so the order is total.
    ``extended`` adds ``extended_attributes`` (``extensions=true``). ``vendor`` (a vendor
    key's back end) keeps only the requests routed there and adds their contact fields.
    """
    query = public_select(jurisdiction, ServiceRequest.id)
    if extended:
        query = with_extensions(query)
    own: list[Any] = []
    if vendor is not None:
        own = [ServiceRequest.id.in_(routed_to(vendor))]
        query = query.where(*own).add_columns(*CONTACT_COLUMNS)

    def wire(values: Any) -> dict[str, Any]:
        row = (
            to_wire_extended(values, values[WIDTH + 1 : WIDTH + 1 + len(EXTENSION_COLUMNS)])
            if extended
            else to_wire(values)
        )
        if vendor is not None:
            row.update(with_contact(values[-len(CONTACT_COLUMNS) :]))
        return row

    if "service_request_id" in args:
        query = query.where(ServiceRequest.service_request_id.in_(args["service_request_id"]))
        query = query.order_by(ServiceRequest.requested_datetime.desc(), ServiceRequest.id.desc())
        rows = [wire(values) for values in db.session.execute(query)]
        return Page(rows, len(rows), None, None)

    size = page_size_for(args, settings)
    mode = sort_mode(args)
    moment, pk = sort_columns(mode)
    filters = [*conditions(args, Window(settings.window_days, size)), *own]
    query = query.where(*filters)
    if "cursor" in args:
        after = decode_cursor(args["cursor"], mode)
        key = sa.tuple_(moment, pk)
        bound = sa.tuple_(sa.literal(after[0], UTCDateTime()), sa.literal(after[1]))
        query = query.where(key > bound if mode == UPDATED else key < bound)
    if mode == UPDATED:
        query = query.order_by(moment.asc(), pk.asc())
    else:
        query = query.order_by(moment.desc(), pk.desc())
    if "page" in args:
        query = query.offset((args["page"] - 1) * size)
    # One row more than asked tells whether there is a next page.
    found = db.session.execute(query.limit(size + 1)).all()
    total: int | None
    if "cursor" in args:
        # The client counted on the first page; recounting a million-row change feed on
        # every page it follows would cost more than the pages themselves.
        total = None
    elif len(found) <= size and args.get("page", 1) == 1:
        total = len(found)  # the whole result is on this page: no need to count it
    else:
        # Counted without the join to services (every request has one): index-only.
        counted = select(sa.func.count(ServiceRequest.id)).where(PUBLISHED, *filters)
        if jurisdiction is not None:
            counted = counted.where(ServiceRequest.jurisdiction_pk == jurisdiction.id)
        total = db.session.scalar(counted) or 0
    cursor = None
    if len(found) > size:
        last = found[size - 1]
        at = last[UPDATED_AT] if mode == UPDATED else last[REQUESTED_AT]
        cursor = encode_cursor(mode, at, last[WIDTH])
    return Page([wire(values) for values in found[:size]], total, size, cursor)


def find_one(
    jurisdiction: Jurisdiction | None, service_request_id: str, *, extended: bool = False
) -> dict[str, Any]:
    """One request by its public id, as its wire dict (``extended``: with extensions).

    :raises ApiError: 404 when there is none.
    """
    query = public_select(jurisdiction, ServiceRequest.id)
    if extended:
        query = with_extensions(query)
    query = query.where(ServiceRequest.service_request_id == service_request_id)
    values = db.session.execute(query).first()
    if values is None:
        raise ApiError(404, f"No service request with id {service_request_id!r}.")
    return to_wire_extended(values, values[WIDTH + 1 :]) if extended else to_wire(values)


def get_request(jurisdiction: Jurisdiction | None, service_request_id: str) -> ServiceRequest:
    """One request by its public id.

    :raises ApiError: 404 when there is none.
    """
    query = base_query(jurisdiction).where(ServiceRequest.service_request_id == service_request_id)
    row = db.session.scalar(query)
    if row is None:
        raise ApiError(404, f"No service request with id {service_request_id!r}.")
    return row
