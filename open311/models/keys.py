"""API keys, stored only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from open311.extensions import db
from open311.models.types import UTCDateTime


class ApiKey(db.Model):  # type: ignore[name-defined,misc]
    """A client key; the secret itself is never stored, only its SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Admin keys (the 311 center's staff) may see where each request stands with its back end.
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A vendor key belongs to one back end: it sees only the requests routed there (with
    #: their contact fields) and may post updates only to those; ``None`` for app keys.
    vendor: Mapped[str | None] = mapped_column(String(100))
