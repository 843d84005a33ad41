"""Apps' subscriptions: signed webhooks about every public change they asked for.

An app key registers a callback for one request, or for a filter (service codes and/or a
bounding box). A change with a public status queues one delivery per matching subscription
in the transaction that records it; workers send them outside any web request
(:func:`send_due`), signed as the departments sign theirs (HMAC-SHA256 over ``timestamp + "."
+ body``, :func:`open311.hooks.signature`), retried with backoff until the receiver answers
2xx (at least once), one at a time per subscription and request (in order). The body holds
public fields only. Callbacks that resolve to loopback, private or link-local addresses are
refused, at registration and again before each send (DNS may change), unless
``OPEN311_SUBSCRIPTIONS_ALLOW_PRIVATE=true``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import JSONB

from open311 import outbox
from open311.config import Settings
from open311.extensions import db
from open311.models import RequestUpdate, ServiceRequest, Subscription, SubscriptionDelivery
from open311.models.subscriptions import QUEUED

log = logging.getLogger(__name__)

TIMEOUT = (2.0, 5.0)


def now() -> datetime:
    """Now with microseconds: backoff in tests is measured in milliseconds."""
    return datetime.now(UTC)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["open311"]["settings"]
    return settings


def callback_problem(url: str) -> str | None:
    """Why ``url`` may not be a callback, or ``None``: http(s) only, and no host that resolves
    to a loopback, private, link-local or otherwise non-public address (unless allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "callback_url must be an http or https URL."
    if parts.username or parts.password:
        return "callback_url must not carry credentials."
    if _settings().subscriptions_allow_private == "true":
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError):
        return "callback_url's host does not resolve."
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global or ip.is_multicast:
            return "callback_url resolves to a loopback, private or link-local address."
    return None


def _unset(column: Any) -> Any:
    """SQL: ``column`` holds no filter: SQL NULL, the JSON ``null`` an ORM ``None`` is
    written as (``json_type``/``jsonb_typeof`` read both alike), or an empty list."""
    postgres = db.engine.dialect.name == "postgresql"
    kind = sa.func.jsonb_typeof(column) if postgres else sa.func.json_type(column)
    return sa.or_(sa.func.coalesce(kind, "null") == "null", sa.cast(column, sa.Text) == "[]")


def _lists_code(code: str) -> Any:
    """SQL: the subscription's ``service_codes`` list holds ``code``."""
    if db.engine.dialect.name == "postgresql":
        return sa.type_coerce(Subscription.service_codes, JSONB).contains([code])
    codes = sa.func.json_each(Subscription.service_codes).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(codes).where(codes.c.value == code))


def _holds_point(long: float, lat: float) -> Any:
    """SQL: the subscription's ``bbox`` ``[west, south, east, north]`` holds the point
    (edges included)."""
    kind = JSONB if db.engine.dialect.name == "postgresql" else sa.JSON
    box = sa.type_coerce(Subscription.bbox, kind())
    west, south, east, north = (box[i].as_float() for i in range(4))
    return sa.and_(west <= long, long <= east, south <= lat, lat <= north)


def candidates(row: ServiceRequest) -> Select[tuple[Subscription]]:
    """The live subscriptions a change to ``row`` concerns, filtered in the database: one for
    this request, or a filter whose service codes (if any) include its service and whose
    bounding box (if any) holds its point. A request without a point matches no box."""
    by_code = sa.or_(_unset(Subscription.service_codes), _lists_code(row.service_code))
    if row.lat is None or row.long is None:
        by_place = _unset(Subscription.bbox)
    else:
        by_place = sa.or_(_unset(Subscription.bbox), _holds_point(row.long, row.lat))
    return (
        select(Subscription)
        .where(
            Subscription.deleted_at.is_(None),
            sa.or_(
                Subscription.request_pk == row.id,
                sa.and_(Subscription.request_pk.is_(None), by_code, by_place),
            ),
        )
        .order_by(Subscription.id)
    )


def queue_for(row: ServiceRequest, change: RequestUpdate) -> int:
    """Queue deliveries of ``change`` to every matching live subscription (not committed)."""
    if change.status is None:  # an unmapped vendor status is not public
        return 0
    stamp, queued = now(), 0
    for subscription in db.session.scalars(candidates(row)):
        db.session.add(
            SubscriptionDelivery(
                subscription=subscription,
                update=change,
                request_pk=row.id,
                state=QUEUED,
                attempts=0,
                next_attempt_at=stamp,
                created_at=stamp,
            )
        )
        queued += 1
    return queued


def payload(delivery: SubscriptionDelivery) -> bytes:
    """The webhook body: the public update and the request's public state, nothing else."""
    from schemas.updates import RequestUpdateSchema

    row = delivery.update.request
    body: dict[str, Any] = {
        "event_id": str(delivery.id),
        "subscription_id": str(delivery.subscription_pk),
        "request_update": RequestUpdateSchema().dump(delivery.update),
        "service_request": {
            "service_request_id": row.service_request_id,
            "service_code": row.service_code,
            "status": row.status,
            "status_notes": row.status_notes or "",
            "updated_datetime": row.updated_datetime.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    return json.dumps(body, sort_keys=True).encode()


#: One webhook at a time per subscription and request, oldest first.
OUTBOX = outbox.Outbox(
    name="webhook",
    model=SubscriptionDelivery,
    order=outbox.InOrder(("subscription_pk", "request_pk")),
)


def _label(delivery: SubscriptionDelivery) -> str:
    # The subscription id, never the URL: it may carry an app's token.
    return (
        f"webhook {delivery.id} to subscription {delivery.subscription_pk}"
        f" (attempt {delivery.attempts})"
    )


def _send(delivery: SubscriptionDelivery, settings: Settings) -> outbox.Sent | outbox.Failed:
    if delivery.subscription.deleted_at is not None:
        return outbox.Failed("unsubscribed", retryable=False)
    error = _post(delivery)
    return outbox.Sent() if error is None else outbox.Failed(error)


def _post(delivery: SubscriptionDelivery) -> str | None:
    """Send one webhook; the error, or ``None`` when the receiver took it (2xx)."""
    subscription = delivery.subscription
    problem = callback_problem(subscription.callback_url)
    if problem:
        return problem
    from open311.hooks import signature  # hooks imports the updates that import us

    body = payload(delivery)
    stamp = str(int(time.time()))
    try:
        response = requests.post(
            subscription.callback_url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Webhook-Id": str(delivery.id),
                "Webhook-Timestamp": stamp,
                "Webhook-Signature": signature(subscription.secret, stamp, body),
            },
            timeout=TIMEOUT,
            allow_redirects=False,  # a redirect could lead past the address check
        )
    except requests.RequestException as exc:
        return type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def send_one(delivery_id: int) -> str | None:
    """Send one due delivery if this worker wins it; returns its new state, or ``None``."""
    won = outbox.claim(OUTBOX, delivery_id)
    return outbox.run(OUTBOX, won, _send, _label) if won else None


def send_due(limit: int = 50) -> int:
    """Send the deliveries that are due, oldest first; returns how many were delivered."""
    return outbox.send_due(OUTBOX, _send, _label, limit)
