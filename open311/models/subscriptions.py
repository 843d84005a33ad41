"""Apps' subscriptions to changes, and the signed webhooks owed to each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.catalogue import JSONType
from open311.models.outbox import TrackedSend
from open311.models.types import UTCDateTime
from open311.models.updates import RequestUpdate

#: Delivery states, as for notifications: ``queued``, ``sent``, ``failed`` (gave up).
QUEUED, SENT, FAILED = "queued", "sent", "failed"


class Subscription(db.Model):  # type: ignore[name-defined,misc]
    """An app key's callback for one request, or for a filter (service codes and/or a bbox).

    ``secret`` signs every webhook (shown to the app once, when it subscribes).
    ``deleted_at`` ends it; its past deliveries stay for the record.
    """

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_pk: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    callback_url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(64))
    request_pk: Mapped[int | None] = mapped_column(ForeignKey("service_requests.id"))
    service_codes: Mapped[list[str] | None] = mapped_column(JSONType)
    #: [min_long, min_lat, max_long, max_lat]
    bbox: Mapped[list[float] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def describe(self) -> dict[str, Any]:
        """The subscription as its app sees it (never the secret after creation)."""
        return {
            "subscription_id": str(self.id),
            "callback_url": self.callback_url,
            "service_request_id": self.request.service_request_id if self.request else None,
            "service_code": self.service_codes,
            "bbox": self.bbox,
        }

    request = relationship("ServiceRequest")


class SubscriptionDelivery(TrackedSend, db.Model):  # type: ignore[name-defined,misc]
    """One webhook about one update to one subscription, queued with the update."""

    __tablename__ = "subscription_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_pk", "update_pk", name="uq_subscription_deliveries"),
        # Webhooks go in order per subscription and request: each claim looks for an older
        # pending one of the same pair.
        Index("ix_subscription_deliveries_order", "subscription_pk", "request_pk", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_pk: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    update_pk: Mapped[int] = mapped_column(ForeignKey("request_updates.id"))
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"))

    subscription: Mapped[Subscription] = relationship()
    update: Mapped[RequestUpdate] = relationship()
