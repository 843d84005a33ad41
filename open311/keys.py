"""Creating, checking and managing API keys; only a SHA-256 of each key is stored.

Keys are 256-bit random secrets, so a fast hash is enough: there is nothing to brute-force
that a slow password hash would protect.

Every key has one role, and a role only does its own things (least privilege):

- ``app``: submits requests, posts updates, holds subscriptions;
- ``vendor``: bound to one back end; lists the requests routed there with their contact
  fields and posts updates only to them (:mod:`open311.ownership`);
- ``admin``: the 311 center's staff; sees each request's delivery state and the deliveries,
  re-queues failed ones, and manages keys (``open311 keys``, or ``admin/keys`` over HTTP,
  :mod:`open311.api.admin`). An admin key submits nothing.

Reading a key never writes: ``last_used_at`` is refreshed at most once a minute per key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from flask import has_request_context, request
from sqlalchemy import or_, select, update

from open311.clock import utcnow
from open311.errors import ApiError
from open311.extensions import db
from open311.models import ApiKey, Backend
from open311.models.keys import ROLES
from schemas.fields import parse_w3c_datetime
from schemas.inputs import text_problem

KEY_PREFIX = "o311"
#: What each role may do; ``update`` by a vendor key is further limited to its own requests.
PERMISSIONS: dict[str, frozenset[str]] = {
    "app": frozenset({"submit", "update", "subscribe"}),
    "vendor": frozenset({"update"}),
    "admin": frozenset({"dispatch", "redeliver", "manage"}),
}
_ACTIONS = {
    "submit": "submit requests",
    "update": "post updates",
    "subscribe": "subscribe",
    "dispatch": "see delivery states",
    "redeliver": "re-queue deliveries",
    "manage": "manage keys",
}
#: How stale ``last_used_at`` may get: refreshing it on every request would turn every read
#: into a write (and, on SQLite, serialise the readers behind the writer).
TOUCH_INTERVAL = timedelta(minutes=1)
_DURATION = re.compile(r"^(\d{1,5})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: What a key is now, in the admin listing (:func:`key_state`).
KEY_STATES = ("live", "revoked", "expired")
#: Longest key name (the column's width).
NAME_MAX = 200


class KeyNotFound(LookupError):
    """No key, or more than one, has the prefix given to a key command."""


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    name: str,
    *,
    role: str | None = None,
    admin: bool = False,
    vendor: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Make a key named ``name``; returns the row and the secret, shown only this once.

    ``role`` defaults to ``vendor`` when a ``vendor`` back end is named, ``admin`` when
    ``admin`` is set (the flag of the keys made before roles), else ``app``.

    :raises ValueError: for a name that is blank, too long or not one line of text, an
        unknown role, a vendor key without a configured back end, a back end on a key of
        another role, or an expiry in the past.
    """
    name = name.strip()
    if not name:
        raise ValueError("a key needs a name: who it is for")
    if len(name) > NAME_MAX:
        raise ValueError(f"the name is longer than {NAME_MAX} characters")
    if text_problem(name) or "\n" in name or "\r" in name:
        raise ValueError("the name must be one line of printable text")
    if role is None:
        role = "vendor" if vendor is not None else "admin" if admin else "app"
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if admin and role != "admin":
        raise ValueError("a key is either an admin key or a vendor key, not both")
    if role == "vendor":
        if vendor is None:
            raise ValueError("a vendor key needs its back end: --vendor BACKEND")
        if db.session.scalar(select(Backend.id).where(Backend.name == vendor)) is None:
            raise ValueError(f"no back end named {vendor!r}; import the catalogue first")
    elif vendor is not None:
        raise ValueError(f"only vendor keys are bound to a back end, not {role} keys")
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise ValueError("the expiry date is in the past")
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=hash_key(secret),
        created_at=now,
        expires_at=expires_at,
        role=role,
        vendor=vendor,
    )
    db.session.add(row)
    db.session.commit()
    return row, secret


def find_key(key: str | None) -> ApiKey | None:
    """The stored key matching ``key``, live or not; looked up once per HTTP request."""
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    # The rate limiter and the view both ask about the same key: one query serves both.
    memo: dict[str, ApiKey | None] | None = (
        request.environ.setdefault("open311.keys", {}) if has_request_context() else None
    )
    if memo is not None and digest in memo:
        return memo[digest]
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if memo is not None:
        memo[digest] = row
    return row


def key_state(row: ApiKey, now: datetime | None = None) -> str:
    """One of :data:`KEY_STATES`: ``revoked`` wins over ``expired`` when both are past."""
    now = now or utcnow()
    if row.revoked_at is not None and row.revoked_at <= now:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "live"


def refusal(row: ApiKey, now: datetime | None = None) -> str | None:
    """Why a stored key may no longer be used, or ``None`` while it is live."""
    state = key_state(row, now)
    if state == "revoked":
        return "This api_key has been revoked; ask the 311 center for a new one."
    if state == "expired":
        return (
            f"This api_key expired on {row.expires_at:%Y-%m-%d %H:%M}Z; "
            "ask the 311 center for a new one."
        )
    return None


def touch(row: ApiKey, now: datetime | None = None) -> None:
    """Record that ``row`` was used, unless that was recorded less than a minute ago.

    The check on the loaded row keeps the common case free of writes; the condition in the
    UPDATE makes concurrent workers write at most once between them.
    """
    now = now or utcnow()
    stale = now - TOUCH_INTERVAL
    if row.last_used_at is not None and row.last_used_at > stale:
        return
    db.session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == row.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def verify_key(key: str | None) -> ApiKey | None:
    """The live key matching ``key``, or ``None`` when it is missing, unknown, revoked or
    expired; a live key's use is recorded (:func:`touch`)."""
    row = find_key(key)
    if row is None or refusal(row) is not None:
        return None
    touch(row)
    return row


def require_key(key: str | None, action: str | None = None) -> ApiKey:
    """The live key given, allowed to do ``action`` (any live key when ``None``).

    :raises ApiError: 403 saying what is wrong: no key, an unknown, revoked or expired one, or
        one whose role may not do ``action``.
    """
    what = _ACTIONS.get(action or "", "use this")
    row = find_key(key)
    if row is None:
        if key:
            raise ApiError(403, f"The api_key is not valid; a valid key is required to {what}.")
        raise ApiError(403, f"A valid api_key is required to {what}.")
    problem = refusal(row)
    if problem is not None:
        raise ApiError(403, problem)
    touch(row)
    if action is not None and not may(row, action):
        article = "An" if row.role[0] in "aeiou" else "A"
        raise ApiError(403, f"{article} {row.role} key cannot {what}.")
    return row


def may(row: ApiKey, action: str) -> bool:
    """Whether the role of ``row`` allows ``action``."""
    return action in PERMISSIONS.get(row.role, frozenset())


def list_keys() -> list[ApiKey]:
    """Every key, oldest first, revoked and expired ones included."""
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def key_by_prefix(prefix: str) -> ApiKey:
    """The one key whose prefix is ``prefix`` (a whole key is accepted too).

    :raises KeyNotFound: when none matches, or several do.
    """
    text = prefix.strip()
    if text.startswith(f"{KEY_PREFIX}_"):
        # Someone pasted the whole secret: use its prefix, never echo the rest.
        text = text.split("_")[1] if text.count("_") >= 2 else ""
    rows = db.session.scalars(select(ApiKey).where(ApiKey.prefix == text)).all() if text else []
    if not rows:
        raise KeyNotFound(f"no key has the prefix {text[:32]!r}; see open311 keys list")
    if len(rows) > 1:
        names = ", ".join(repr(r.name) for r in rows)
        raise KeyNotFound(f"several keys have the prefix {text!r} ({names}); revoke none")
    return rows[0]


def revoke_key(prefix: str) -> ApiKey:
    """Refuse the key from now on (kept, so that its requests still name it).

    :raises KeyNotFound: see :func:`key_by_prefix`.
    """
    row = key_by_prefix(prefix)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row


def expire_key(prefix: str, when: datetime) -> ApiKey:
    """Make the key refused from ``when`` on (now or in the past: at once).

    :raises KeyNotFound: see :func:`key_by_prefix`.
    """
    row = key_by_prefix(prefix)
    row.expires_at = when.replace(microsecond=0)
    db.session.commit()
    return row


def parse_duration(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d`` or ``8w`` as a time span.

    :raises ValueError: for anything else.
    """
    match = _DURATION.match(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h, 90m or 8w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def parse_when(text: str) -> datetime:
    """A moment as ``--expires`` and ``--at`` take it: a W3C datetime with a zone, a bare date
    (midnight UTC), or a span from now (``90m``, ``12h``, ``30d``, ``8w``).

    :raises ValueError: for anything else.
    """
    try:
        return parse_w3c_datetime(text)
    except ValueError as exc:
        try:
            return utcnow() + parse_duration(text)
        except ValueError:
            raise ValueError(f"{exc}, or a span such as 30d") from None
