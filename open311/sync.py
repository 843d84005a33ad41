"""Pulling status back from the back ends: one pass of ``changes_since`` per back end.

Each pass asks from a little before the start of the previous complete pass (the overlap
covers clock skew and records that vendors show late), so passes overlap by design and the
same change is read more than once: :func:`open311.updates.record` stores it once, keyed by
the back end's identity for the change. The cursor moves only after a pass succeeds, so a
back end that is down is asked again from the same point next time.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from adapters.base import Adapter, AdapterError, Change, PartialChanges, SettingsError
from open311.config import PERIODIC_SYNC_SECONDS, Settings
from open311.extensions import db
from open311.models import Backend, DispatchJob, ServiceRequest, SyncCursor
from open311.registry import backend_adapter
from open311.relay import is_echo
from open311.statuses import reverse_table
from open311.updates import DuplicateUpdate, NewUpdate, record

log = logging.getLogger(__name__)

#: Outcomes of one change, counted in :class:`SyncResult`.
STORED, DUPLICATE, UNKNOWN, UNMATCHED = "stored", "duplicate", "unknown", "unmatched"
#: A back end's copy of a change we relayed to it (:mod:`open311.relay`): not stored again.
ECHO = "echo"


@dataclass
class SyncResult:
    """What one pass over one back end did."""

    backend: str
    counts: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def line(self) -> str:
        """A one-line summary for the command line and the log."""
        if self.error:
            return f"{self.backend}: failed ({self.error})"
        parts = [f"{self.counts[k]} {k}" for k in (STORED, DUPLICATE, UNKNOWN, UNMATCHED)]
        return f"{self.backend}: " + ", ".join(parts)


def can_report_changes(adapter: Adapter) -> bool:
    """Whether the adapter implements ``changes_since`` (the base class reports nothing)."""
    return type(adapter).changes_since is not Adapter.changes_since


def extended_status(backend: Backend, change: Change) -> str | None:
    """The extended status of ``change``: the back end's table first, then the adapter's
    open/closed reading; ``None`` when neither knows the vendor's status."""
    table = reverse_table(backend.adapter, backend.statuses)
    if change.raw_status is not None and change.raw_status in table:
        return table[change.raw_status]
    return change.status


def change_identity(change: Change) -> str:
    """The back end's identity for ``change``, or one built from its record, time and status."""
    if change.identity:
        return change.identity
    return f"{change.reference}@{change.updated.astimezone(UTC).isoformat()}#{change.raw_status}"


def request_for(backend: str, reference: str) -> ServiceRequest | None:
    """Our request that ``backend`` knows as ``reference``."""
    query = (
        select(ServiceRequest)
        .join(DispatchJob, DispatchJob.request_pk == ServiceRequest.id)
        .where(DispatchJob.backend == backend, DispatchJob.reference == reference)
    )
    return db.session.scalar(query)


def apply_change(backend: Backend, change: Change) -> str:
    """Record one change from ``backend``; returns its outcome (``stored``, ``duplicate``...)."""
    row = request_for(backend.name, change.reference)
    if row is None:
        # A record made in the vendor's own app, or one we never sent: not ours to show.
        return UNMATCHED
    if is_echo(backend.name, row, change.raw_status):
        # Our own relayed change read back: storing it would overwrite its notes and tell
        # residents and apps of a change that never happened.
        return ECHO
    status = extended_status(backend, change)
    try:
        record(
            row,
            NewUpdate(
                status=status,
                updated=change.updated,
                source=f"backend:{backend.name}",
                source_ref=change_identity(change),
                description=change.notes,
                raw_status=change.raw_status,
                version=change.version,
                agency_responsible=change.agency,
                expected_datetime=change.expected,
            ),
        )
    except DuplicateUpdate:
        return DUPLICATE
    return UNKNOWN if status is None else STORED


def _since(backend: str, overlap: timedelta, started: datetime) -> datetime:
    cursor = db.session.scalar(select(SyncCursor).where(SyncCursor.backend == backend))
    if cursor is not None:
        return cursor.polled_until - overlap
    first = db.session.scalar(
        select(func.min(DispatchJob.created_at)).where(DispatchJob.backend == backend)
    )
    return (first or started) - overlap


def _advance(backend: str, until: datetime, started: datetime) -> None:
    # polled_until only ever moves forward; updated_at is when the last complete pass began,
    # which is what the schedule of due_only passes counts from.
    cursor = db.session.scalar(select(SyncCursor).where(SyncCursor.backend == backend))
    if cursor is None:
        db.session.add(SyncCursor(backend=backend, polled_until=until, updated_at=started))
    else:
        cursor.polled_until = max(cursor.polled_until, until)
        cursor.updated_at = started
    db.session.commit()


def is_due(backend: str, interval: float, now: datetime) -> bool:
    """Whether a scheduled pass should poll ``backend`` now: its interval, rounded up to
    whole minutes of the periodic task (:data:`PERIODIC_SYNC_SECONDS`), separates the minute
    of ``now`` from the minute in which its last complete pass began. A back end never
    polled, or whose last pass failed (its cursor did not move), is due.

    Counting minutes, not seconds, keeps a late pass from pushing the next one back: the
    worker's first pass runs when it starts (say at 10:34:32, for the 10:34 tick), and the
    10:35 tick must poll again rather than find only 28 seconds gone and wait for 10:36.
    """
    cursor = db.session.scalar(select(SyncCursor).where(SyncCursor.backend == backend))
    if cursor is None:
        return True
    tick = PERIODIC_SYNC_SECONDS
    ticks = math.floor(now.timestamp() / tick) - math.floor(cursor.updated_at.timestamp() / tick)
    return ticks >= math.ceil(interval / tick)


def sync_backend(backend: Backend, *, started: datetime | None = None) -> SyncResult:
    """One pass over ``backend``: fetch its changes since the last pass and record them."""
    settings: Settings = current_app.extensions["open311"]["settings"]
    started = started or datetime.now(UTC)
    result = SyncResult(backend.name)
    adapter = backend_adapter(backend.name, backend.adapter, backend.settings)
    overlap = timedelta(seconds=settings.sync_overlap)
    since = _since(backend.name, overlap, started)
    try:
        changes = adapter.changes_since(since)
    except AdapterError as exc:
        result.error = str(exc)[:200]
        log.warning("sync %s: %s", backend.name, result.error)
        return result
    # Oldest first, so that the present ends as the newest change says.
    for change in sorted(changes, key=lambda c: (c.updated, c.version or 0)):
        result.counts[apply_change(backend, change)] += 1
    if result.counts[UNKNOWN]:
        log.warning(
            "sync %s: %d change(s) with unknown statuses", backend.name, result.counts[UNKNOWN]
        )
    if isinstance(changes, PartialChanges):
        # Read completely only up to its last change: the next pass starts right there (the
        # cursor is kept one overlap later, as _since takes one off). Starting an overlap
        # earlier would read a backlog longer than the adapter's cap again and again.
        _advance(backend.name, changes.until + overlap, started)
    else:
        _advance(backend.name, started, started)
    return result


def sync_all(adapter_name: str | None = None, *, due_only: bool = False) -> list[SyncResult]:
    """One pass over every back end that can report changes (or those of one adapter).

    With ``due_only`` (the periodic task on PostgreSQL, which runs every minute) a back end
    whose ``OPEN311_SYNC_INTERVAL`` has not yet elapsed (:func:`is_due`) is left out.
    """
    settings: Settings = current_app.extensions["open311"]["settings"]
    query = select(Backend).order_by(Backend.name)
    if adapter_name is not None:
        query = query.where(Backend.adapter == adapter_name)
    results = []
    now = datetime.now(UTC)
    for backend in db.session.scalars(query).all():
        if due_only and not is_due(backend.name, settings.sync_interval, now):
            continue
        try:
            adapter = backend_adapter(backend.name, backend.adapter, backend.settings)
        except (SettingsError, LookupError) as exc:  # e.g. a secret's variable is unset
            log.error("sync %s: %s", backend.name, exc)
            results.append(SyncResult(backend.name, error=str(exc)[:200]))
            continue
        if can_report_changes(adapter):
            results.append(sync_backend(backend))
    return results
