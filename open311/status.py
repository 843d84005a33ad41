"""Changing a request's status by hand (the 311 center's ``open311 requests close``)."""

from __future__ import annotations

from open311.clock import utcnow
from open311.models import ServiceRequest
from open311.updates import NewUpdate, record
from schemas.inputs import STATUSES


def change_status(row: ServiceRequest, status: str, notes: str | None = None) -> None:
    """Set ``status`` (``open`` or ``closed``) and notes, and stamp ``updated_datetime``.

    The change is kept in the request's history like any other. For a closed request
    ``updated_datetime`` is therefore its closing time (§3.27).
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    record(
        row,
        NewUpdate(
            status=status,
            updated=max(utcnow(), row.requested_datetime),
            source="staff",
            description=notes,
        ),
    )
