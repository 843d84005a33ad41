"""The history of every change to a request, and where each back end's polling stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.requests import ServiceRequest
from open311.models.types import UTCDateTime


class RequestUpdate(db.Model):  # type: ignore[name-defined,misc]
    """One change to a request, from a vendor, a department, a client or the 311 center.

    ``source`` names who said it (``backend:NAME``, ``key:ID``, ``staff``) and ``source_ref``
    is that source's own identity for the change (the vendor's update identity, the client's
    ``update_id``): the pair is unique, so re-reading a change or replaying a POST stores
    nothing twice, whatever races. ``status`` is mySociety's extended status, or ``None`` when
    the vendor's own status (kept in ``raw_status``) maps to none. ``applied`` says whether
    the change moved the request's current state: an older change arriving late is history,
    never the present.
    """

    __tablename__ = "request_updates"
    __table_args__ = (
        UniqueConstraint("source", "source_ref", name="uq_request_updates_source_ref"),
        Index("ix_request_updates_updated", "updated_datetime", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    update_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    status: Mapped[str | None] = mapped_column(String(40))
    raw_status: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(120))
    source_ref: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int | None] = mapped_column(Integer)
    updated_datetime: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What the source said of who has the request and when it expects the work done, as
    #: history: the request's own columns hold the newest applied values.
    agency_responsible: Mapped[str | None] = mapped_column(String(200))
    expected_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())

    request: Mapped[ServiceRequest] = relationship()


class SyncCursor(db.Model):  # type: ignore[name-defined,misc]
    """How far polling a back end has got: the start of its last complete pass."""

    __tablename__ = "sync_cursors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100), unique=True)
    polled_until: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(db.Model):  # type: ignore[name-defined,misc]
    """A webhook event already stored: a redelivery of the same id is acknowledged, ignored."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("backend", "event_id", name="uq_webhook_events_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
