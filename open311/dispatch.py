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
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import OperationalError

from adapters.base import Adapter, AdapterError, Delivery, Outbound
from open311 import queue
from open311.config import Settings
from open311.extensions import db
from open311.models import Backend, DispatchJob, ServiceRequest
from open311.models.dispatch import DELIVERED, FAILED, PENDING, QUEUED, RETRYING
from open311.models.requests import PERSONAL_FIELDS
from open311.registry import LOCAL, backend_adapter

log = logging.getLogger(__name__)

#: How much of a back end's error text is kept; bodies can be whole HTML pages.
ERROR_LIMIT = 500
#: The longest ``Retry-After`` honoured, in seconds.
RETRY_AFTER_LIMIT = 86400.0
#: How long, at most, a worker keeps an outcome it could not write (database down).
OUTCOME_RETRY_LIMIT = 60.0


def now() -> datetime:
    """Now in UTC with microseconds: backoff in tests is measured in milliseconds."""
    return datetime.now(UTC)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["open311"]["settings"]
    return settings


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


def backoff(attempts: int, settings: Settings, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts: exponential, with jitter.

    Half the delay is fixed and half random ("equal jitter"), so a crowd of jobs failed by
    one outage does not come back in lock step; a back end's ``Retry-After`` is a floor
    (up to a day), even above ``OPEN311_DISPATCH_BACKOFF_MAX``.
    """
    delay = min(settings.dispatch_backoff_max, settings.dispatch_backoff * 2 ** (attempts - 1))
    delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not secrecy
    if retry_after is not None:
        # The back end knows best when it will be back; only absurd values are cut down.
        delay = max(delay, min(retry_after, RETRY_AFTER_LIMIT))
    return delay


@dataclass(frozen=True)
class Claim:
    """A job won by one worker, with the lease that proves it."""

    job_id: int
    lease_token: str


def _blocked_backends(stamp: datetime) -> set[str]:
    # A back end whose oldest pending job is waiting out a backoff is down: keep the order.
    heads = (
        select(func.min(DispatchJob.id))
        .where(DispatchJob.state.in_(PENDING))
        .group_by(DispatchJob.backend)
    )
    query = select(DispatchJob.backend).where(
        DispatchJob.id.in_(heads), DispatchJob.next_attempt_at > stamp
    )
    return set(db.session.scalars(query))


def claim(job_id: int | None = None) -> Claim | None:
    """Win the oldest due job (or job ``job_id``), or ``None`` when there is none to take now."""
    settings = _settings()
    stamp = now()
    free = or_(DispatchJob.lease_until.is_(None), DispatchJob.lease_until < stamp)
    due = (
        select(DispatchJob.id, DispatchJob.backend)
        .where(DispatchJob.state.in_(PENDING), DispatchJob.next_attempt_at <= stamp, free)
        .order_by(DispatchJob.id)
        .limit(20)
    )
    if job_id is not None:
        due = due.where(DispatchJob.id == job_id)
    candidates = db.session.execute(due).all()
    blocked = _blocked_backends(stamp) if candidates else set()
    db.session.rollback()  # end the read transaction before the racing update
    for job_id, backend in candidates:
        if backend in blocked:
            continue
        token = uuid.uuid4().hex
        won = db.session.execute(
            update(DispatchJob)
            .where(
                DispatchJob.id == job_id,
                DispatchJob.state.in_(PENDING),
                DispatchJob.next_attempt_at <= stamp,
                free,
            )
            .values(
                lease_token=token,
                lease_until=stamp + timedelta(seconds=settings.dispatch_lease),
                attempts=DispatchJob.attempts + 1,
                updated_at=stamp,
            )
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        if won.rowcount == 1:  # type: ignore[attr-defined]
            return Claim(job_id, token)
    return None


def _finish(claim: Claim, **values: object) -> bool:
    # Written only while the lease is ours: a worker that overran its lease must not
    # overwrite the outcome of the worker that took the job over.
    values.update(lease_token=None, lease_until=None, updated_at=now())
    result = db.session.execute(
        update(DispatchJob)
        .where(DispatchJob.id == claim.job_id, DispatchJob.lease_token == claim.lease_token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def run(claim: Claim) -> str:
    """Make one attempt at a claimed job; returns the job's new state."""
    settings = _settings()
    job = db.session.get(DispatchJob, claim.job_id, populate_existing=True)
    assert job is not None
    request = job.request
    label = f"request {request.service_request_id} to {job.backend} (attempt {job.attempts})"
    try:
        receipt: Delivery = adapter_for(job).create(outbound(request, job))
    except AdapterError as exc:
        return _record(label, partial(_failed, claim, job, label, exc, settings))
    except Exception as exc:  # an adapter bug must park the job, never lose it
        log.exception("delivery of %s crashed", label)
        error = AdapterError(f"{type(exc).__name__}: {exc}", retryable=True)
        return _record(label, partial(_failed, claim, job, label, error, settings))
    return _record(label, partial(_delivered, claim, job, request, receipt, label))


def _record(label: str, write: Callable[[], str]) -> str:
    # The back end has answered; losing that answer to a database outage would leave the
    # job leased (OPEN311_DISPATCH_LEASE, minutes) before anyone tries again. Keep the
    # outcome and write it once the database is back (the lease token still guards it).
    deadline = time.monotonic() + min(_settings().dispatch_lease, OUTCOME_RETRY_LIMIT)
    delay = 0.25
    while True:
        try:
            return write()
        except OperationalError:
            db.session.rollback()
            # SQLite's "database is locked" is contention, not an outage: no waiting there.
            if db.engine.dialect.name != "postgresql" or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "could not record the outcome of %s (database unreachable), again in %.1fs",
                label,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _delivered(
    claim: Claim, job: DispatchJob, request: ServiceRequest, receipt: Delivery, label: str
) -> str:
    stamp = now()
    if not _finish(claim, state=DELIVERED, reference=receipt.reference, delivered_at=stamp):
        db.session.rollback()
        log.warning("delivery of %s finished after its lease was lost", label)
        return job.state
    if request.token is not None and request.token.accepted_at is None:
        request.token.accepted_at = stamp.replace(microsecond=0)
    if receipt.service_notice and not request.service_notice:
        request.service_notice = receipt.service_notice
    db.session.commit()
    log.info("delivered %s", label)
    return DELIVERED


def _failed(
    claim: Claim, job: DispatchJob, label: str, exc: AdapterError, settings: Settings
) -> str:
    db.session.rollback()
    message = str(exc)[:ERROR_LIMIT]
    if exc.retryable and job.attempts < settings.dispatch_max_attempts:
        delay = backoff(job.attempts, settings, exc.retry_after)
        state = RETRYING
        values: dict[str, object] = {"next_attempt_at": now() + timedelta(seconds=delay)}
        log.warning("delivery of %s failed, retrying in %.1fs: %s", label, delay, message)
    else:
        state = FAILED
        values = {}
        log.error("delivery of %s failed for good: %s", label, message)
    _finish(claim, state=state, last_error=message, **values)
    db.session.commit()
    return state


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
    stamp = now()
    token = uuid.uuid4().hex
    won = db.session.execute(
        update(DispatchJob)
        .where(DispatchJob.id == job.id, DispatchJob.state == QUEUED, DispatchJob.attempts == 0)
        .values(
            lease_token=token,
            lease_until=stamp + timedelta(seconds=_settings().dispatch_lease),
            attempts=1,
            updated_at=stamp,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return run(Claim(job.id, token))


def deliver_pending() -> int:
    """Attempt every job due now, once each; returns how many were delivered."""
    delivered = 0
    while (state := work_once()) is not None:
        delivered += state == DELIVERED
    return delivered


def retry(job_id: int) -> DispatchJob:
    """Re-queue a failed job for a fresh round of attempts, with the same idempotency key.

    :raises LookupError: when there is no such job, or it has not failed.
    """
    job = db.session.get(DispatchJob, job_id)
    if job is None:
        raise LookupError(f"no dispatch job {job_id}")
    if job.state != FAILED:
        raise LookupError(f"dispatch job {job_id} is {job.state}, not failed")
    stamp = now()
    job.state, job.attempts, job.next_attempt_at, job.updated_at = QUEUED, 0, stamp, stamp
    db.session.commit()
    return job


def list_jobs(*, failed_only: bool = False, limit: int = 100) -> list[DispatchJob]:
    """Jobs newest first: all of them, or only the dead letter."""
    query = select(DispatchJob).order_by(DispatchJob.id.desc()).limit(limit)
    if failed_only:
        query = query.where(DispatchJob.state == FAILED)
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
    "Claim",
    "backoff",
    "claim",
    "deliver",
    "deliver_pending",
    "enqueue",
    "list_jobs",
    "retry",
    "run",
    "work_once",
]
