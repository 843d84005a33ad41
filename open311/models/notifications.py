"""E-mails to residents about their requests, and the requests they asked to hear no more of."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.outbox import TrackedSend
from open311.models.types import UTCDateTime
from open311.models.updates import RequestUpdate

#: Notification states: ``queued`` waits (or waits again after a refusal), ``sent`` is done,
#: ``failed`` gave up.
QUEUED, SENT, FAILED = "queued", "sent", "failed"


class Notification(TrackedSend, db.Model):  # type: ignore[name-defined,misc]
    """One message about one update, created in the update's transaction, sent by a worker.

    ``token`` names it in the unsubscribe link. ``lease_until`` marks a send in progress, so
    that two workers never send the same message.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    update_pk: Mapped[int] = mapped_column(ForeignKey("request_updates.id"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)

    update: Mapped[RequestUpdate] = relationship()


class OptOut(db.Model):  # type: ignore[name-defined,misc]
    """A request whose reporter followed an unsubscribe link: no more messages about it."""

    __tablename__ = "notification_optouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
