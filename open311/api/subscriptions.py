"""``POST/GET subscriptions.json`` and ``DELETE subscriptions/{id}.json``: apps' webhooks.

No Open311 server offers this; the shape follows the rest of the API (form fields, an
``api_key``, GeoReport errors). Only app keys may subscribe (:data:`open311.keys.PERMISSIONS`),
and the webhooks carry public fields only (:mod:`open311.subscriptions`).
"""

from __future__ import annotations

import math
import secrets

from flask import Response, jsonify, request
from sqlalchemy import select

from open311.api import bp
from open311.clock import utcnow
from open311.errors import ApiError
from open311.extensions import db
from open311.feed import get_request
from open311.jurisdictions import resolve_jurisdiction
from open311.keys import require_key
from open311.models import ApiKey, Service, Subscription
from open311.subscriptions import callback_problem
from schemas.inputs import is_decimal

#: How many live subscriptions one key may hold: each costs work on every change.
MAX_PER_KEY = 100


def _app_key() -> ApiKey:
    return require_key(request.values.get("api_key"), "subscribe")


def _bbox(text: str) -> list[float]:
    parts = text.split(",")
    if not all(is_decimal(part) for part in parts):  # float() takes "1_0" and "infinity"
        raise ApiError(400, "bbox must be min_long,min_lat,max_long,max_lat.")
    values = [float(part) for part in parts]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ApiError(400, "bbox must be min_long,min_lat,max_long,max_lat.")
    west, south, east, north = values
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ApiError(400, "bbox corners are out of range or swapped.")
    return values


def _codes(raw: list[str]) -> list[str]:
    codes = [c.strip() for item in raw for c in item.split(",") if c.strip()]
    known = set(db.session.scalars(select(Service.service_code).where(Service.active)))
    unknown = sorted(set(codes) - known)
    if unknown:
        raise ApiError(400, f"Unknown service_code: {', '.join(unknown)[:200]}.")
    return sorted(set(codes))


@bp.post("/subscriptions.json")
def subscription_create() -> Response:
    """Register a callback; answers with the subscription and its signing secret (once)."""
    key = _app_key()
    form = request.form
    url = (form.get("callback_url") or "").strip()
    if not url or len(url) > 2000:
        raise ApiError(400, "callback_url is required (at most 2000 characters).")
    problem = callback_problem(url)
    if problem:
        raise ApiError(400, problem)
    request_id = (form.get("service_request_id") or "").strip()
    codes = _codes(form.getlist("service_code"))
    bbox = _bbox(form["bbox"]) if form.get("bbox", "").strip() else None
    if request_id and (codes or bbox):
        raise ApiError(400, "Give service_request_id, or a filter (service_code, bbox), not both.")
    if not (request_id or codes or bbox):
        raise ApiError(400, "Give service_request_id, or service_code and/or bbox.")
    row = None
    if request_id:
        row = get_request(resolve_jurisdiction(form.get("jurisdiction_id")), request_id)
    live = select(Subscription.id).where(
        Subscription.key_pk == key.id, Subscription.deleted_at.is_(None)
    )
    if len(db.session.scalars(live).all()) >= MAX_PER_KEY:
        raise ApiError(400, f"A key may hold at most {MAX_PER_KEY} subscriptions.")
    subscription = Subscription(
        key_pk=key.id,
        callback_url=url,
        secret=secrets.token_hex(32),
        request_pk=row.id if row is not None else None,
        service_codes=codes or None,
        bbox=bbox,
        created_at=utcnow(),
    )
    db.session.add(subscription)
    db.session.commit()
    return jsonify([{**subscription.describe(), "secret": subscription.secret}])


@bp.get("/subscriptions.json")
def subscription_list() -> Response:
    """The key's own live subscriptions (without their secrets)."""
    key = _app_key()
    query = (
        select(Subscription)
        .where(Subscription.key_pk == key.id, Subscription.deleted_at.is_(None))
        .order_by(Subscription.id)
    )
    return jsonify([s.describe() for s in db.session.scalars(query)])


@bp.delete("/subscriptions/<subscription_id>.json")
def subscription_delete(subscription_id: str) -> Response:
    """End one of the key's subscriptions; another key's is as unknown as a missing one."""
    key = _app_key()
    found = None
    if subscription_id.isdigit() and len(subscription_id) < 10:
        found = db.session.get(Subscription, int(subscription_id))
    if found is None or found.key_pk != key.id or found.deleted_at is not None:
        raise ApiError(404, f"No subscription {subscription_id[:50]!r}.")
    found.deleted_at = utcnow()
    db.session.commit()
    return jsonify([found.describe()])
