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
from open311.models import ApiKey

KEY_PREFIX = "o311"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(name: str, *, admin: bool = False) -> tuple[ApiKey, str]:
    """Make a key named ``name``; returns the row and the secret, shown only this once.

    An ``admin`` key also sees each request's delivery state (``extensions=true``).
    """
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name, prefix=prefix, key_hash=hash_key(secret), created_at=utcnow(), admin=admin
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
