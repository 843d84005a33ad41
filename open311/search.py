"""The filters of ``GET requests`` and of the bulk feeds, as SQL on either database.

Every filter is a ``WHERE`` condition, so paging, counting and streaming work the same way
whatever the combination. Spatial and text conditions differ by database (PostGIS and
PostgreSQL text search, or plain SQL and an in-process distance function on SQLite) but
select the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, select
from sqlalchemy.sql.elements import ColumnElement

from open311.clock import utcnow
from open311.errors import ApiError
from open311.extensions import db
from open311.models import Jurisdiction, Service, ServiceRequest
from open311.models.requests import SEARCH_CONFIG
from open311.spatial.sphere import within_box, within_radius

#: Sort orders. ``requested``: the core's newest first. ``updated``: the change feed, oldest
#: change first, so that a client can resume from the last change it saw.
REQUESTED, UPDATED = "requested", "updated"

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Window:
    """The default volume rule: at most ``days`` of history and ``cap`` requests (§3.22)."""

    days: int
    cap: int


def date_range(
    start: datetime | None, end: datetime | None, days: int, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The ``requested_datetime`` range a query covers, by the rules of §3.22.

    No dates: the last ``days`` days. Only a start: ``days`` from it (not past now). Only an
    end: the ``days`` before it. Both: as given, but no wider than ``days``.

    :raises ApiError: 400 when the range is reversed or wider than allowed.
    """
    try:
        return _date_range(start, end, days, now or utcnow())
    except OverflowError:
        # 9999-12-31 plus the window, or 0001-01-01 minus it: no date a request can have.
        raise ApiError(400, "start_date or end_date is out of range.") from None


def _date_range(
    start: datetime | None, end: datetime | None, days: int, now: datetime
) -> tuple[datetime, datetime]:
    span = timedelta(days=days)
    if start is None and end is None:
        return now - span, now
    if end is None:
        assert start is not None
        return start, min(start + span, max(now, start))
    if start is None:
        return end - span, end
    if end < start:
        raise ApiError(400, "end_date is before start_date.")
    if end - start > span:
        raise ApiError(
            400,
            f"start_date and end_date may not span more than {days} days; "
            "query several smaller ranges instead.",
        )
    return start, end


def sort_mode(args: dict[str, Any]) -> str:
    """The order a query's rows come in: the change feed's when it filters on update time."""
    return UPDATED if ("updated_after" in args or "updated_before" in args) else REQUESTED


def sort_columns(mode: str) -> tuple[Any, Any]:
    """The unique sort key of ``mode``: a datetime column, then the primary key."""
    if mode == UPDATED:
        return ServiceRequest.updated_datetime, ServiceRequest.id
    return ServiceRequest.requested_datetime, ServiceRequest.id


def base_query(jurisdiction: Jurisdiction | None) -> Select[Any]:
    """Published requests (those with an id), of one jurisdiction when given."""
    query = select(ServiceRequest).where(ServiceRequest.service_request_id.is_not(None))
    if jurisdiction is not None:
        query = query.where(ServiceRequest.jurisdiction_pk == jurisdiction.id)
    return query


def conditions(args: dict[str, Any], window: Window) -> list[ColumnElement[bool]]:
    """The ``WHERE`` conditions of a loaded query (without ``service_request_id``).

    Without ``updated_after``/``updated_before`` the core's ``requested_datetime`` window
    applies (§3.22); with either, the point is to reach changes to old requests, so the
    window is not imposed and ``start_date``/``end_date`` only narrow when given.
    """
    found: list[ColumnElement[bool]] = []
    requested = ServiceRequest.requested_datetime
    if sort_mode(args) == REQUESTED:
        start, end = date_range(args.get("start_date"), args.get("end_date"), window.days)
        found += [requested >= start, requested <= end]
    else:
        if "start_date" in args:
            found.append(requested >= args["start_date"])
        if "end_date" in args:
            found.append(requested <= args["end_date"])
        if "updated_after" in args:
            found.append(ServiceRequest.updated_datetime >= args["updated_after"])
        if "updated_before" in args:
            found.append(ServiceRequest.updated_datetime < args["updated_before"])
    if "service_code" in args:
        found.append(
            ServiceRequest.service_pk.in_(
                select(Service.id).where(Service.service_code.in_(args["service_code"]))
            )
        )
    if "status" in args:
        found.append(ServiceRequest.status.in_(args["status"]))
    dialect = db.engine.dialect.name
    columns = (ServiceRequest.lat, ServiceRequest.long, ServiceRequest.location)
    if "bbox" in args:
        found.append(within_box(dialect, *columns, args["bbox"]))
    if "radius" in args:
        found.append(within_radius(dialect, *columns, args["lat"], args["long"], args["radius"]))
    if "q" in args:
        found.append(text_condition(dialect, args["q"]))
    return found


def text_condition(dialect: str, q: str) -> ColumnElement[bool]:
    """Full-text search over descriptions.

    PostgreSQL: web-search syntax (words, ``"phrases"``, ``or``, ``-word``) on the stemmed,
    GIN-indexed ``search_vector``. SQLite: every word must occur in the description, in any
    case; no stemming, which is the price of the embedded default.
    """
    if dialect == "postgresql":
        return ServiceRequest.search_vector.op("@@")(sa.func.websearch_to_tsquery(SEARCH_CONFIG, q))
    words = _WORD.findall(q.lower())
    if not words:
        return sa.false()
    description = sa.func.lower(ServiceRequest.description)
    return sa.and_(*(description.like(f"%{_escape_like(word)}%", escape="\\") for word in words))


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
