"""The bookkeeping every outgoing message shares: e-mails, relays and app callbacks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from open311.models.types import UTCDateTime


class TrackedSend:
    """Columns of a message sent by a worker: its state, attempts, backoff and lease.

    ``lease_until`` marks a send in progress, so that two workers never send the same one;
    ``next_attempt_at`` is when it may be tried (again).
    """

    state: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
