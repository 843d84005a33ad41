"""Changing a request's status."""

from __future__ import annotations

from open311.clock import utcnow
from open311.extensions import db
from open311.models import ServiceRequest
from schemas.inputs import STATUSES


def change_status(row: ServiceRequest, status: str, notes: str | None = None) -> None:
    """Set ``status`` (``open`` or ``closed``) and notes, and stamp ``updated_datetime``.

    For a closed request ``updated_datetime`` is therefore its closing time (§3.27).
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    row.status = status
    if notes is not None:
        row.status_notes = notes
    row.updated_datetime = max(utcnow(), row.requested_datetime)
    db.session.commit()
