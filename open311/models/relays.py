"""Changes made elsewhere that a back end holding the request must be told of."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.outbox import TrackedSend
from open311.models.updates import RequestUpdate

#: Relay states: ``queued`` waits (or waits again after a failure), ``sent`` is done,
#: ``failed`` gave up (the dead letter).
QUEUED, SENT, FAILED = "queued", "sent", "failed"


class Relay(TrackedSend, db.Model):  # type: ignore[name-defined,misc]
    """One update to send to one back end (``UpdateThreeOneOne`` for CitySourced).

    Created in the transaction that records the update, sent by a worker; ``lease_until``
    marks a send in progress so that two workers never send the same one.
    """

    __tablename__ = "relays"
    __table_args__ = (UniqueConstraint("update_pk", "backend", name="uq_relays_update_backend"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    update_pk: Mapped[int] = mapped_column(ForeignKey("request_updates.id"))
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    backend: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str] = mapped_column(String(200))
    vendor_status: Mapped[str] = mapped_column(String(200))

    update: Mapped[RequestUpdate] = relationship()
