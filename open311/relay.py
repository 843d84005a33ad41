"""Telling CitySourced of changes made elsewhere (``UpdateThreeOneOne``).

When a change from any other source (a department's webhook or poll, ``POST
servicerequestupdates``, the 311 center) moves a request that a CitySourced back end holds,
a :class:`~open311.models.Relay` is queued in the transaction that records the change, so
residents using the vendor's app see it too. Workers send due relays outside any web
request (:func:`send_due`), oldest first and one at a time per request (a later change never
overtakes an earlier one), retried with the dispatch backoff. A change that came from that
back end itself is never echoed back to it. New public notes without a change of status are
relayed too, with the status the request already has.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from adapters.base import AdapterError, PermanentError
from open311 import outbox
from open311.config import Settings
from open311.extensions import db
from open311.models import Backend, DispatchJob, Relay, RequestUpdate, ServiceRequest
from open311.models.dispatch import DELIVERED
from open311.models.relays import QUEUED, SENT
from open311.registry import backend_adapter
from open311.statuses import UNCHANGED, core_status, forward_table, reverse_table

log = logging.getLogger(__name__)

#: Adapters that can be told of a change made elsewhere.
RELAY_ADAPTERS = frozenset({"citysourced"})


def now() -> datetime:
    """Now with microseconds: backoff in tests is measured in milliseconds."""
    return datetime.now(UTC)


def vendor_status(backend: Backend, extended: str) -> str | None:
    """The back end's status for an extended status: its own, else the one for the core
    status (``fixed`` is ``Closed`` where the vendor has no finer word); ``None`` if none."""
    forward = forward_table(reverse_table(backend.adapter, backend.statuses))
    core = core_status(extended)
    return forward.get(extended) or (forward.get(core) if core else None)


def current_status(row: ServiceRequest) -> str | None:
    """The extended status ``row`` is in: that of the newest applied change that set one
    (``unchanged`` notes set none), else its core status; ``None`` for a brand-new request.
    Called before the change being recorded is flushed, so it is not counted."""
    newest = db.session.scalar(
        select(RequestUpdate.status)
        .where(
            RequestUpdate.request_pk == row.id,
            RequestUpdate.applied.is_(True),
            RequestUpdate.status.is_not(None),
            RequestUpdate.status != UNCHANGED,
        )
        .order_by(RequestUpdate.updated_datetime.desc(), RequestUpdate.id.desc())
        .limit(1)
    )
    return newest or row.status


def queue_for(row: ServiceRequest, change: RequestUpdate) -> list[Relay]:
    """Add relays of ``change`` to the back ends holding ``row`` (not committed).

    A change of status is relayed with its status; new public notes without one
    (``unchanged``) with the status the request is already in, since ``UpdateThreeOneOne``
    always carries a ``StatusType``. Never to the back end the change came from.
    """
    if change.status is None or (change.status == UNCHANGED and not change.description):
        return []
    job = db.session.scalar(select(DispatchJob).where(DispatchJob.request_pk == row.id))
    # Not yet delivered: the vendor has no ticket to update yet; nothing to relay.
    if job is None or job.adapter not in RELAY_ADAPTERS or job.state != DELIVERED:
        return []
    if job.reference is None or change.source == f"backend:{job.backend}":
        return []
    backend = db.session.scalar(select(Backend).where(Backend.name == job.backend))
    if backend is None:
        return []
    extended = current_status(row) if change.status == UNCHANGED else change.status
    status = vendor_status(backend, extended) if extended else None
    if status is None:
        log.warning("request %s: no %s status for %s", row.id, backend.name, extended)
        return []
    stamp = now()
    relay = Relay(
        update=change,
        request_pk=row.id,
        backend=backend.name,
        reference=job.reference,
        vendor_status=status,
        state=QUEUED,
        attempts=0,
        next_attempt_at=stamp,
        created_at=stamp,
    )
    db.session.add(relay)
    return [relay]


def is_echo(backend: str, row: ServiceRequest, raw_status: str | None) -> bool:
    """Whether a change read from ``backend`` is only its copy of what we last relayed to it:
    the newest change applied to ``row`` was relayed there with that very status."""
    newest = db.session.scalar(
        select(RequestUpdate.id)
        .where(RequestUpdate.request_pk == row.id, RequestUpdate.applied.is_(True))
        .order_by(RequestUpdate.updated_datetime.desc(), RequestUpdate.id.desc())
        .limit(1)
    )
    if newest is None or raw_status is None:
        return False
    sent = select(Relay.id).where(
        Relay.update_pk == newest,
        Relay.backend == backend,
        Relay.state == SENT,
        Relay.vendor_status == raw_status,
    )
    return db.session.scalar(sent) is not None


def _settings() -> Settings:
    settings: Settings = current_app.extensions["open311"]["settings"]
    return settings


#: One relay at a time per request, oldest first: a later change never overtakes.
OUTBOX = outbox.Outbox(
    name="relay",
    model=Relay,
    order=outbox.InOrder(("request_pk",)),
)


def _label(relay: Relay) -> str:
    return (
        f"relay {relay.id} of request {relay.request_pk} to {relay.backend}"
        f" (attempt {relay.attempts})"
    )


def _send(relay: Relay, settings: Settings) -> outbox.Sent | outbox.Failed:
    try:
        backend = db.session.scalar(select(Backend).where(Backend.name == relay.backend))
        if backend is None:
            raise PermanentError(f"back end {relay.backend!r} is no longer configured")
        adapter = backend_adapter(backend.name, backend.adapter, backend.settings)
        adapter.update_status(  # type: ignore[attr-defined]
            relay.reference, relay.vendor_status, relay.update.description
        )
    except AdapterError as exc:
        return outbox.Failed(str(exc), retryable=not isinstance(exc, PermanentError))
    return outbox.Sent()


def send_one(relay_id: int) -> str | None:
    """Send one due relay if this worker wins it; returns its new state, or ``None``."""
    won = outbox.claim(OUTBOX, relay_id)
    return outbox.run(OUTBOX, won, _send, _label) if won else None


def send_due(limit: int = 50) -> int:
    """Send the relays that are due, oldest first; returns how many were sent."""
    return outbox.send_due(OUTBOX, _send, _label, limit)
