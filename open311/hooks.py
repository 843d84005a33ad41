"""Signed webhooks from department systems: ``POST /hooks/departments/{dept}``.

The contract (vendors.md §5.2) is at-least-once, unordered and lossy: every event is checked
(HMAC-SHA256 over ``timestamp + "." + raw body``, at most five minutes old), an event id
already stored is acknowledged and ignored, and a lower ``version`` than the one applied
never overwrites it (:mod:`open311.updates`). The answer comes only after the change is
committed; the periodic poll (:mod:`open311.sync`) heals events the department dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters import jsondoc
from adapters.base import SettingsError
from adapters.department import mapping
from open311.clock import utcnow
from open311.extensions import db
from open311.models import Backend, WebhookEvent
from open311.registry import resolve_env
from open311.sync import apply_change

log = logging.getLogger(__name__)

bp = Blueprint("hooks", __name__, url_prefix="/hooks")

#: How old (or how far ahead of our clock) a signed timestamp may be.
TOLERANCE = 300


def _answer(status: int, detail: str, **extra: object) -> Response:
    response = jsonify({"status": status, "detail": detail, **extra})
    response.status_code = status
    return response


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``v1=`` value a sender puts in ``Webhook-Signature`` for ``body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, now: float) -> str:
    """Why a delivery is not authentic, or ``""`` when it is.

    ``Webhook-Signature`` may carry several space-separated ``v1=`` values (a secret being
    rotated); any one matching is enough.
    """
    if not timestamp or not given:
        return "Webhook-Timestamp and Webhook-Signature are required."
    try:
        stamp = int(timestamp)
    except ValueError:
        return "Webhook-Timestamp is not a Unix time."
    if abs(now - stamp) > TOLERANCE:
        return "Webhook-Timestamp is more than five minutes from now."
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, part) for part in given.split()):
        return "The signature does not match."
    return ""


@bp.post("/departments/<dept>")
def department_hook(dept: str) -> Response:
    """Store one signed event from department back end ``dept``; 200 once it is stored."""
    backend = db.session.scalar(select(Backend).where(Backend.name == dept))
    secret = None
    if backend is not None and backend.adapter == "department":
        try:
            secret = resolve_env(backend.settings).get("webhook_secret")
        except SettingsError as exc:
            # The operator's fault, not the sender's: 503 makes the department retry.
            log.error("webhook for %s: %s", dept, exc)
            return _answer(503, "Webhooks for this department are not configured here.")
    if backend is None or not secret:
        return _answer(404, "No department takes webhooks under this name.")
    body = request.get_data(cache=False)
    problem = verify(
        secret,
        request.headers.get("Webhook-Timestamp"),
        request.headers.get("Webhook-Signature"),
        body,
        time.time(),
    )
    if problem:
        log.warning("webhook for %s refused: %s", dept, problem)
        return _answer(401, problem)
    try:
        event = jsondoc.parse(body)
        event_id = str(event.get("event_id") or request.headers.get("Webhook-Id") or "")
        change = mapping.change(event["work_request"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return _answer(400, f"Not a work-request event: {exc}")
    if not event_id or len(event_id) > 200:
        return _answer(400, "The event has no usable event_id.")
    seen = select(WebhookEvent.id).where(
        WebhookEvent.backend == dept, WebhookEvent.event_id == event_id
    )
    if db.session.scalar(seen) is not None:
        return _answer(200, "Already stored.", outcome="duplicate")
    outcome = apply_change(backend, change)
    db.session.add(WebhookEvent(backend=dept, event_id=event_id, received_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # the same event, delivered twice at once: the other one won
        db.session.rollback()
        return _answer(200, "Already stored.", outcome="duplicate")
    return _answer(200, "Stored.", outcome=outcome)


def init_app(app: Flask) -> None:
    """Register the webhook endpoints."""
    app.register_blueprint(bp)
