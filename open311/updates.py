"""Recording changes to requests: the history, and the present it implies.

Every change is stored as a :class:`~open311.models.RequestUpdate`. Whether it also moves
the request's current ``status``/``status_notes``/``updated_datetime`` depends on order, not
arrival: vendors repeat, reorder and back-date changes (vendors.md §3.3), so a change older
than the newest one already applied (by time, or by ``version`` when the source numbers its
changes) is kept as history only. A vendor status no table knows is stored raw, logged, and
leaves the request's status as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from open311 import notify, relay, subscriptions
from open311.clock import utcnow
from open311.extensions import db
from open311.models import RequestUpdate, ServiceRequest
from open311.statuses import core_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewUpdate:
    """A change as a source reports it.

    :param status: mySociety extended status, or ``None`` when the vendor's is unknown.
    :param source_ref: the source's own identity for this change; a second change with the
        same ``(source, source_ref)`` is a duplicate and is not stored.
    :param agency_responsible: the agency or crew the source says now has the request, and
    :param expected_datetime: when it expects the work done; ``None`` when it does not say
        (the request keeps what it had). Like the status, only the newest change sets them.
    """

    status: str | None
    updated: datetime
    source: str
    source_ref: str | None = None
    description: str | None = None
    raw_status: str | None = None
    version: int | None = None
    media_url: str | None = None
    agency_responsible: str | None = None
    expected_datetime: datetime | None = None


class DuplicateUpdate(Exception):
    """The source has already reported this change."""


def exists(source: str, source_ref: str) -> bool:
    """Whether ``source`` already reported the change it calls ``source_ref``."""
    query = select(RequestUpdate.id).where(
        RequestUpdate.source == source, RequestUpdate.source_ref == source_ref
    )
    return db.session.scalar(query) is not None


def _is_newest(row: ServiceRequest, change: NewUpdate) -> bool:
    applied = select(RequestUpdate).where(
        RequestUpdate.request_pk == row.id, RequestUpdate.applied.is_(True)
    )
    if change.version is not None:
        newest_version = db.session.scalar(
            applied.with_only_columns(func.max(RequestUpdate.version)).where(
                RequestUpdate.source == change.source
            )
        )
        if newest_version is not None and change.version <= newest_version:
            return False
    newest = db.session.scalar(applied.with_only_columns(func.max(RequestUpdate.updated_datetime)))
    return newest is None or change.updated >= newest


def record(row: ServiceRequest, change: NewUpdate) -> RequestUpdate:
    """Store ``change`` to ``row`` and apply it if it is the newest; commits.

    :raises DuplicateUpdate: when its ``(source, source_ref)`` is already stored, including
        when a concurrent writer stored it first.
    """
    if change.source_ref is not None and exists(change.source, change.source_ref):
        raise DuplicateUpdate(change.source_ref)
    applied = change.status is not None and _is_newest(row, change)
    update = RequestUpdate(
        request_pk=row.id,
        status=change.status,
        raw_status=change.raw_status,
        description=change.description,
        media_url=change.media_url,
        source=change.source,
        source_ref=change.source_ref,
        version=change.version,
        updated_datetime=change.updated,
        received_at=utcnow(),
        applied=applied,
        agency_responsible=(change.agency_responsible or None) and change.agency_responsible[:200],
        expected_datetime=change.expected_datetime,
    )
    db.session.add(update)
    if change.status is None:
        # Reported, not guessed: the request keeps its last Open311 status.
        log.warning(
            "request %s: %s sent status %r, which no status table maps; kept %s",
            row.service_request_id,
            change.source,
            change.raw_status,
            row.status,
        )
    elif applied:
        before = (row.status, row.status_notes)
        core = core_status(change.status)
        if core is not None:
            row.status = core
            row.status_notes = change.description or None
        elif change.description:
            row.status_notes = change.description
        row.updated_datetime = max(row.updated_datetime, change.updated)
        # Only what the source says: a back end that does not report an agency or a date
        # leaves the ones set by the 311 center or an earlier change alone.
        if change.agency_responsible:
            row.agency_responsible = change.agency_responsible[:200]
        if change.expected_datetime is not None:
            row.expected_datetime = change.expected_datetime
        if (row.status, row.status_notes) != before and notify.wanted(row):
            notify.queue(update)
        # Not flushed yet: a concurrent duplicate must fail in the flush below, as a 400.
        with db.session.no_autoflush:
            relay.queue_for(row, update)
    with db.session.no_autoflush:
        subscriptions.queue_for(row, update)
    try:
        db.session.flush()
        update.update_id = str(update.id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DuplicateUpdate(change.source_ref or "") from None
    return update


def history(service_request_id: str) -> list[dict[str, Any]]:
    """The public history of a request, oldest first, as ``request_update`` dicts.

    Changes whose vendor status no table maps are left out, as in ``servicerequestupdates``.
    """
    from schemas.updates import HistoryEntrySchema

    query = (
        select(RequestUpdate)
        .join(RequestUpdate.request)
        .where(
            ServiceRequest.service_request_id == service_request_id,
            RequestUpdate.status.is_not(None),
        )
        .order_by(RequestUpdate.updated_datetime, RequestUpdate.id)
    )
    dumped: list[dict[str, Any]] = HistoryEntrySchema(many=True).dump(db.session.scalars(query))
    return dumped
