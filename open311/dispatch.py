"""Handing accepted requests to their back end.

The web request commits the record first and only then dispatches, so a failing back end
can never lose or half-write a request. Until the adapters issue lands, every service is
handled by the in-house ``local`` adapter.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from flask import Flask, current_app
from sqlalchemy import select

from adapters.base import Adapter, AdapterError, Outbound
from open311.clock import utcnow
from open311.extensions import db
from open311.models import ServiceRequest, Token
from open311.models.requests import PERSONAL_FIELDS

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "open311.adapters"


def load_adapter(name: str) -> Adapter:
    """Instantiate the adapter registered under ``name`` in the entry-point group."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        raise LookupError(f"no adapter named {name!r} in entry points {ENTRY_POINT_GROUP!r}")
    adapter_class = next(iter(found)).load()
    return adapter_class()  # type: ignore[no-any-return]


def outbound(row: ServiceRequest) -> Outbound:
    """The adapter's view of a stored request."""
    return Outbound(
        service_request_id=row.service_request_id or "",
        service_code=row.service_code,
        jurisdiction_id=row.jurisdiction.jurisdiction_id,
        requested_datetime=row.requested_datetime,
        description=row.description,
        lat=row.lat,
        long=row.long,
        address=row.address,
        address_id=row.address_id,
        media_url=row.media_url,
        attributes=dict(row.attributes or {}),
        contact={name: getattr(row, name) for name in PERSONAL_FIELDS},
    )


def deliver(row: ServiceRequest) -> bool:
    """Deliver one committed request; returns whether its back end accepted it."""
    adapter: Adapter = current_app.extensions["open311"]["adapters"]["local"]
    try:
        adapter.create(outbound(row))
    except AdapterError as exc:
        log.warning("delivery of request %s failed: %s", row.service_request_id, exc)
        return False
    if row.token is not None and row.token.accepted_at is None:
        row.token.accepted_at = utcnow()
    db.session.commit()
    return True


def deliver_pending() -> int:
    """Deliver every request whose token is still waiting; returns how many were accepted."""
    waiting = select(Token).where(Token.accepted_at.is_(None)).order_by(Token.id)
    return sum(deliver(token.request) for token in db.session.scalars(waiting).all())


def init_app(app: Flask) -> None:
    """Load the configured adapters once."""
    app.extensions.setdefault("open311", {})["adapters"] = {"local": load_adapter("local")}
