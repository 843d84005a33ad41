"""Handing accepted requests to their back end, exactly once, whatever fails.

Every accepted request gets a :class:`~open311.models.DispatchJob` in the same transaction
that stores it, so no request is ever accepted without a pending delivery. Workers (``open311
worker``, or the in-process dispatcher on SQLite) *claim* a due job with a conditional
update, which only one of any number of racing workers can win, call the adapter, and write
the outcome back only while they still hold their lease. A worker killed mid-delivery leaves
a lease that expires; the next attempt reuses the job's idempotency key and looks the record
up before creating it again.

Failures back off exponentially with jitter; a job whose attempts are exhausted, or whose
back end refused it for good, is parked as ``failed`` (the dead letter) until ``open311
dispatch retry`` re-queues it. Within one back end, jobs are delivered in order of arrival:
while the oldest pending job waits out its backoff, the back end is treated as down and the
jobs behind it wait too, so a long outage ends with the backlog delivered in order.
Claims, leases, backoff and the dead letter are :mod:`open311.outbox`'s, shared with the
other messages workers send.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from adapters.base import Adapter, AdapterError, Delivery, Outbound
from open311 import outbox, queue
from open311.clock import utcnow
from open311.config import Settings
from open311.extensions import db
from open311.models import Backend, DispatchJob, ServiceRequest
from open311.models.dispatch import DELIVERED, FAILED, PENDING, QUEUED, RETRYING
from open311.models.requests import PERSONAL_FIELDS
from open311.outbox import RETRY_AFTER_LIMIT, Claim, NoSuchRow, NotFailed, now
from open311.redact import redact
from open311.registry import LOCAL, backend_adapter

log = logging.getLogger(__name__)


def enqueue(row: ServiceRequest) -> DispatchJob:
    """Add the delivery job of a new request to the current transaction (not committed).

    The back end is the service's, resolved now: a later catalogue change does not move a
    request that is already on its way.
    """
    name = row.service.backend or LOCAL
    adapter = LOCAL
    if name != LOCAL:
        backend = db.session.scalar(select(Backend).where(Backend.name == name))
        if backend is None:  # the import checks this; a missing row is a bug, fail loudly
            raise LookupError(
                f"service {row.service.service_code!r} names unknown back end {name!r}"
            )
        adapter = backend.adapter
    stamp = now()
    job = DispatchJob(
        request=row,
        backend=name,
        adapter=adapter,
        idempotency_key=str(uuid.uuid4()),
        state=QUEUED,
        attempts=0,
        next_attempt_at=stamp,
        created_at=stamp,
        updated_at=stamp,
    )
    db.session.add(job)
    # On PostgreSQL the procrastinate job joins the same transaction.
    queue.defer(job)
    return job


def outbound(row: ServiceRequest, job: DispatchJob | None = None) -> Outbound:
    """The adapter's view of a stored request."""
    return Outbound(
        service_request_id=row.service_request_id or "",
        service_code=row.service_code,
        service_name=row.service_name,
        jurisdiction_id=row.jurisdiction.jurisdiction_id,
        requested_datetime=row.requested_datetime,
        idempotency_key=job.idempotency_key if job else "",
        # Any earlier attempt may have reached the back end before it failed or died.
        maybe_sent=bool(job and (job.attempts > 1 or job.last_error is not None)),
        description=row.description,
        lat=row.lat,
        long=row.long,
        address=row.address,
        address_id=row.address_id,
        media_url=row.media_url,
        attributes=dict(row.attributes or {}),
        contact={name: getattr(row, name) for name in PERSONAL_FIELDS},
    )


def adapter_for(job: DispatchJob) -> Adapter:
    """The live adapter of the job's back end."""
    if job.backend == LOCAL:
        return backend_adapter(LOCAL, LOCAL, {})
    backend = db.session.scalar(select(Backend).where(Backend.name == job.backend))
    if backend is None:
        raise LookupError(f"back end {job.backend!r} is no longer configured")
    return backend_adapter(backend.name, backend.adapter, backend.settings)


#: Jobs in order of arrival per back end; see the module's docstring.
OUTBOX = outbox.Outbox(
    name="dispatch job",
    model=DispatchJob,
    lease=lambda settings: settings.dispatch_lease,
    order=outbox.InOrder(("backend",), strict=False),
    pending=PENDING,
    retrying=RETRYING,
    sent=DELIVERED,
    failed=FAILED,
    sent_column="delivered_at",
)


def backoff(attempts: int, settings: Settings, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts (:func:`open311.outbox.backoff`
    with ``OPEN311_DISPATCH_BACKOFF`` and ``OPEN311_DISPATCH_BACKOFF_MAX``)."""
    return outbox.backoff(attempts, outbox.dispatch_retries(settings), retry_after)


def claim(job_id: int | None = None) -> Claim | None:
    """Win the oldest due job (or job ``job_id``), or ``None`` when there is none to take now."""
    return outbox.claim(OUTBOX, job_id)


def _label(job: DispatchJob) -> str:
    return (
        f"delivery of request {job.request.service_request_id} to {job.backend}"
        f" (attempt {job.attempts})"
    )


def _redacted(exc: Exception | str, request: ServiceRequest) -> str:
    return redact(str(exc), (getattr(request, name) for name in PERSONAL_FIELDS))


def _send(job: DispatchJob, settings: Settings) -> outbox.Sent | outbox.Failed:
    request = job.request
    try:
        receipt: Delivery = adapter_for(job).create(outbound(request, job))
    except AdapterError as exc:
        # The back end's own words, which may quote the contact details we sent it.
        return outbox.Failed(_redacted(exc, request), exc.retryable, exc.retry_after)
    except Exception as exc:  # an adapter bug must park the job, never lose it
        # The traceback, but through redact: the exception's text may hold a phone number.
        trace = "".join(traceback.format_exception(exc))
        log.error("%s crashed: %s", _label(job), _redacted(trace, request))
        return outbox.Failed(f"{type(exc).__name__}: {_redacted(exc, request)}")

    def accepted() -> None:
        if request.token is not None and request.token.accepted_at is None:
            request.token.accepted_at = utcnow()
        if receipt.service_notice and not request.service_notice:
            request.service_notice = receipt.service_notice

    return outbox.Sent({"reference": receipt.reference}, after=accepted)


def run(claim: Claim) -> str:
    """Make one attempt at a claimed job; returns the job's new state."""
    return outbox.run(OUTBOX, claim, _send, _label)


def work_once() -> str | None:
    """Claim and attempt one due job; returns its new state, or ``None`` if none was due."""
    won = claim()
    return run(won) if won else None


def work_on(job_id: int) -> str | None:
    """Attempt job ``job_id`` if it is due and free; ``None`` when it is not to be taken now."""
    won = claim(job_id)
    return run(won) if won else None


def deliver(row: ServiceRequest) -> str | None:
    """Attempt a just-committed request at once if it is handled in house.

    Only ``local`` is attempted inside the web request: it cannot block. Every other back
    end is left to the workers, so a slow vendor never holds a resident's POST open.
    """
    job = db.session.scalar(select(DispatchJob).where(DispatchJob.request_pk == row.id))
    if job is None or job.adapter != LOCAL or job.state not in PENDING:
        return None
    db.session.rollback()
    # Not yet tried by anyone: due and free need no checking.
    won = outbox.take(OUTBOX, job.id, now(), DispatchJob.state == QUEUED, DispatchJob.attempts == 0)
    return run(won) if won else None


def deliver_pending() -> int:
    """Attempt every job due now, once each; returns how many were delivered."""
    delivered = 0
    while (state := work_once()) is not None:
        delivered += state == DELIVERED
    return delivered


def retry(job_id: int) -> DispatchJob:
    """Re-queue a failed job for a fresh round of attempts, with the same idempotency key.

    Shared by ``open311 dispatch retry`` and ``POST admin/deliveries/{id}/retry``.

    :raises NoSuchRow: when there is no such job.
    :raises NotFailed: when it has not failed (both are :class:`LookupError`).
    """
    job: DispatchJob = outbox.requeue(OUTBOX, job_id)
    return job


def list_jobs(
    *, states: Collection[str] | None = None, limit: int = 100, offset: int = 0
) -> list[DispatchJob]:
    """Jobs newest first: all of them, or those in ``states`` (``{FAILED}``: the dead letter).

    Shared by ``open311 dispatch list`` and ``GET admin/deliveries``. Each job's request id
    comes in the same query: both show it, and a page is up to a thousand jobs.
    """
    query = (
        select(DispatchJob)
        .options(joinedload(DispatchJob.request).load_only(ServiceRequest.service_request_id))
        .order_by(DispatchJob.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if states is not None:
        query = query.where(DispatchJob.state.in_(sorted(states)))
    return list(db.session.scalars(query))


def delivery_state(row: ServiceRequest) -> dict[str, object]:
    """Where a request stands with its back end, for staff (never in public output)."""
    job = db.session.scalar(select(DispatchJob).where(DispatchJob.request_pk == row.id))
    if job is None:
        return {"state": "none"}
    state: dict[str, object] = {
        "state": job.state,
        "backend": job.backend,
        "adapter": job.adapter,
        "attempts": job.attempts,
    }
    if job.state == DELIVERED:
        state["reference"] = job.reference
    else:
        state["last_error"] = job.last_error
    if job.state in PENDING:
        state["next_attempt_datetime"] = job.next_attempt_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return state


def pending_count() -> int:
    """How many jobs are still to be delivered (queued or retrying)."""
    return int(db.session.scalar(select(func.count()).where(DispatchJob.state.in_(PENDING))) or 0)


__all__ = [
    "DELIVERED",
    "FAILED",
    "QUEUED",
    "RETRYING",
    "RETRY_AFTER_LIMIT",
    "Claim",
    "NoSuchRow",
    "NotFailed",
    "backoff",
    "claim",
    "deliver",
    "deliver_pending",
    "enqueue",
    "list_jobs",
    "now",
    "retry",
    "run",
    "work_once",
]
