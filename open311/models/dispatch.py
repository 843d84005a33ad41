"""Where each accepted request stands with its back end: the durable dispatch state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.catalogue import JSONType
from open311.models.requests import ServiceRequest
from open311.models.types import UTCDateTime

#: Job states. ``queued`` and ``retrying`` are pending; ``failed`` is the dead letter.
QUEUED, RETRYING, DELIVERED, FAILED = "queued", "retrying", "delivered", "failed"
PENDING = (QUEUED, RETRYING)
STATES = (QUEUED, RETRYING, DELIVERED, FAILED)


class Backend(db.Model):  # type: ignore[name-defined,misc]
    """A configured back end: an adapter and its settings, named in the catalogue."""

    __tablename__ = "backends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    adapter: Mapped[str] = mapped_column(String(50))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Vendor status -> mySociety extended status; empty means the adapter's default table.
    statuses: Mapped[dict[str, str] | None] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DispatchJob(db.Model):  # type: ignore[name-defined,misc]
    """One request's delivery to its back end, created in the transaction that stores it.

    ``idempotency_key`` is made with the job and sent on every attempt, so a back end that
    already has the record can recognise a retry. ``lease_token``/``lease_until`` mark the
    attempt in flight: a worker that dies leaves a lease that simply expires.
    """

    __tablename__ = "dispatch_jobs"
    __table_args__ = (
        Index("ix_dispatch_jobs_due", "state", "next_attempt_at"),
        # The outbox asks, on every claim, for each back end's oldest pending job (delivery in
        # order); pending jobs only, so the index stays the size of the backlog, not history.
        Index(
            "ix_dispatch_jobs_pending_backend",
            "backend",
            "id",
            postgresql_where=text("state IN ('queued', 'retrying')"),
            sqlite_where=text("state IN ('queued', 'retrying')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), unique=True)
    backend: Mapped[str] = mapped_column(String(100), index=True)
    adapter: Mapped[str] = mapped_column(String(50))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    request: Mapped[ServiceRequest] = relationship()
