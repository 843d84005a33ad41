"""Reading requests back (``GET requests`` and ``GET requests/{id}``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select

from open311.clock import utcnow
from open311.errors import ApiError
from open311.extensions import db
from open311.models import Jurisdiction, Service, ServiceRequest


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
    now = now or utcnow()
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


def _base(jurisdiction: Jurisdiction | None) -> Select[tuple[ServiceRequest]]:
    query = select(ServiceRequest).where(ServiceRequest.service_request_id.is_not(None))
    if jurisdiction is not None:
        query = query.where(ServiceRequest.jurisdiction_pk == jurisdiction.id)
    return query


def find_requests(
    jurisdiction: Jurisdiction | None, args: dict[str, Any], window: Window
) -> list[ServiceRequest]:
    """The requests matching a loaded ``GET requests`` query, newest first.

    ``service_request_id`` overrides every other filter, the window and the cap (§3.25).
    """
    query = _base(jurisdiction)
    if "service_request_id" in args:
        query = query.where(ServiceRequest.service_request_id.in_(args["service_request_id"]))
    else:
        start, end = date_range(args.get("start_date"), args.get("end_date"), window.days)
        query = query.where(
            ServiceRequest.requested_datetime >= start, ServiceRequest.requested_datetime <= end
        )
        if "service_code" in args:
            query = query.join(ServiceRequest.service).where(
                Service.service_code.in_(args["service_code"])
            )
        if "status" in args:
            query = query.where(ServiceRequest.status.in_(args["status"]))
        query = query.limit(window.cap)
    query = query.order_by(ServiceRequest.requested_datetime.desc(), ServiceRequest.id.desc())
    return list(db.session.scalars(query).unique())


def get_request(jurisdiction: Jurisdiction | None, service_request_id: str) -> ServiceRequest:
    """One request by its public id.

    :raises ApiError: 404 when there is none.
    """
    query = _base(jurisdiction).where(ServiceRequest.service_request_id == service_request_id)
    row = db.session.scalar(query)
    if row is None:
        raise ApiError(404, f"No service request with id {service_request_id!r}.")
    return row
