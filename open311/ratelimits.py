"""Rate limits on the GeoReport API (Flask-Limiter), one budget per endpoint family.

A budget belongs to one client address and, when the request carries a live API key, to that
key too: every resident's phone running the same app has its own budget, and a second key
from the same address starts afresh. A key that is unknown, revoked or expired counts as no
key, so inventing keys buys nothing. The key appears in the counters' names only by its
public prefix, never the secret.

The families and their settings: ``get`` (every read, ``OPEN311_RATE_LIMIT_GET``), ``post``
(``POST requests``), ``updates`` (``POST servicerequestupdates``), ``subscriptions``
(``POST``/``DELETE`` subscriptions) and ``admin`` (the ``POST admin/...`` writes: keys and
re-queued deliveries; the admin reads are ``get``). The limits are read from the settings on
each request, so a change of settings (a test's) applies at once. Counters live in Redis when
``OPEN311_REDIS_URL`` is set, so that every server behind a balancer shares them; in memory
(per process) otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from sqlalchemy.exc import DBAPIError
from werkzeug.middleware.proxy_fix import ProxyFix

from open311.config import Settings
from open311.errors import error_response
from open311.extensions import db
from open311.keys import verify_key

#: The endpoints (``view function name``, method) outside the ``get`` family.
_WRITES = {
    ("create_request", "POST"): "post",
    ("update_create", "POST"): "updates",
    ("subscription_create", "POST"): "subscriptions",
    ("subscription_delete", "DELETE"): "subscriptions",
    ("admin_key_create", "POST"): "admin",
    ("admin_key_revoke", "POST"): "admin",
    ("admin_key_expire", "POST"): "admin",
    ("admin_delivery_retry", "POST"): "admin",
}
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _settings() -> Settings:
    settings: Settings = current_app.extensions["open311"]["settings"]
    return settings


def _presented_key() -> str | None:
    key = request.args.get("api_key")
    if key or request.mimetype not in _FORMS:
        return key
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None or (limit and request.content_length > limit):
        # Too large a body is the view's 413 to give; the limiter reads no part of it.
        return None
    # Limits are checked as the view starts, after the blueprint's UTF-8 check has read (and
    # cached) the raw body: parsing the form here takes nothing from the view.
    return request.form.get("api_key")


def client_identity() -> str:
    """Whose budget a request spends: the client address, plus the live key's prefix."""
    address = request.remote_addr or "unknown"
    try:
        row = verify_key(_presented_key())
    except DBAPIError:
        # The database is away: the view answers 503; the limiter still counts the address.
        db.session.rollback()
        row = None
    return f"{address}|key:{row.prefix}" if row is not None else address


def _limit_of(family: str) -> Callable[[], str]:
    def provider() -> str:
        value: str = getattr(_settings(), f"rate_limit_{family}")
        return value

    return provider


def _too_many(exc: RateLimitExceeded) -> Response:
    limiter: Limiter = current_app.extensions["open311"]["limiter"]
    current = limiter.current_limit
    wait = max(1, math.ceil(current.window[0] - time.time())) if current is not None else 60
    response = error_response(
        429,
        [
            f"Too many requests: this client may make {exc.limit.limit} of this kind. "
            f"Try again in {wait} seconds."
        ],
    )
    response.headers["Retry-After"] = str(wait)
    return response


def init_app(app: Flask) -> None:
    """Limit every GeoReport endpoint of ``app`` (call after the blueprint is registered)."""
    settings: Settings = app.extensions["open311"]["settings"]
    if settings.trusted_proxies:
        # Only the proxies we run may name the client; otherwise anyone could pick a fresh
        # address for each request by sending X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    options = {"socket_timeout": 1, "socket_connect_timeout": 1} if settings.redis_url else {}
    limiter = Limiter(
        client_identity,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        storage_options=options,
        key_prefix=settings.rate_limit_prefix,
        strategy="fixed-window",
        # Redis down: count in memory per process rather than refuse residents' reports.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.request_filter(lambda: _settings().rate_limits == "false")
    for endpoint, view in list(app.view_functions.items()):
        blueprint, _, name = endpoint.rpartition(".")
        if blueprint != "georeport":
            continue
        methods = {m for rule in app.url_map.iter_rules(endpoint) for m in rule.methods or ()}
        families = {_WRITES.get((name, m), "get") for m in methods - {"OPTIONS", "HEAD"}}
        for family in sorted(families):
            # The wrapper is this app's own: the module's view functions stay unwrapped.
            view = limiter.shared_limit(_limit_of(family), scope=family)(view)
        app.view_functions[endpoint] = view
    app.extensions["open311"]["limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)
