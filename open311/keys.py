"""Creating and checking API keys; only a SHA-256 of each key is stored.

Keys are 256-bit random secrets, so a fast hash is enough: there is nothing to brute-force
that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from open311.clock import utcnow
from open311.extensions import db
from open311.models import ApiKey, Backend

KEY_PREFIX = "o311"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(name: str, *, admin: bool = False, vendor: str | None = None) -> tuple[ApiKey, str]:
    """Make a key named ``name``; returns the row and the secret, shown only this once.

    An ``admin`` key also sees each request's delivery state (``extensions=true``). A
    ``vendor`` key is bound to that back end: it lists only the requests routed there, with
    their contact fields, and may post updates only to them.

    :raises ValueError: for a key that is both, or a vendor that is not a configured back end.
    """
    if vendor is not None:
        if admin:
            raise ValueError("a key is either an admin key or a vendor key, not both")
        if db.session.scalar(select(Backend.id).where(Backend.name == vendor)) is None:
            raise ValueError(f"no back end named {vendor!r}; import the catalogue first")
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=hash_key(secret),
        created_at=utcnow(),
        admin=admin,
        vendor=vendor,
    )
    db.session.add(row)
    db.session.commit()
    return row, secret


def verify_key(key: str | None) -> ApiKey | None:
    """The live key matching ``key``, or ``None`` when it is missing, unknown or revoked."""
    if not key or len(key) > 200:
        return None
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row
