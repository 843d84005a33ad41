"""API keys, stored only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from open311.extensions import db
from open311.models.types import UTCDateTime

#: What a key may do, by role (see :mod:`open311.keys`).
ROLES = ("app", "vendor", "admin")


class ApiKey(db.Model):  # type: ignore[name-defined,misc]
    """A client key; the secret itself is never stored, only its SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Refused from this moment on; ``None`` never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Refreshed at most once a minute (:func:`open311.keys.touch`), so reads stay reads.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ``app`` (submits requests, updates, subscriptions), ``vendor`` (one back end's
    #: requests with their contacts, and updates to them) or ``admin`` (delivery states).
    role: Mapped[str] = mapped_column(String(16), server_default="app")
    #: The back end a vendor key belongs to; ``None`` for the other roles.
    vendor: Mapped[str | None] = mapped_column(String(100))

    @property
    def admin(self) -> bool:
        """Whether this is a staff key (kept for callers from before roles)."""
        return self.role == "admin"
