"""``admin/keys`` and ``admin/deliveries``: the admin key's HTTP surface.

What ``open311 keys`` and ``open311 dispatch list|retry`` do, for staff who hold an admin key
rather than the server's configuration; each view calls the same function as its command
(:mod:`open311.keys`, :mod:`open311.dispatch`). Only admin keys may use these
(:data:`open311.keys.PERMISSIONS`): reading deliveries is ``dispatch``, re-queueing one is
``redeliver``, everything on keys is ``manage``. An admin key still submits nothing.

No answer carries a key's secret or hash, except the one that creates the key, which shows
its secret once; deliveries carry no personal field (their errors are stored redacted).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from open311 import dispatch
from open311.api import FMT, bp, given_key, load_query
from open311.errors import ApiError
from open311.formats import render
from open311.keys import (
    KeyNotFound,
    create_key,
    expire_key,
    list_keys,
    require_key,
    revoke_key,
)
from open311.models import ApiKey
from open311.models.dispatch import PENDING
from schemas.admin import (
    DELIVERIES_DEFAULT,
    AdminForm,
    AdminQuery,
    DeliveriesQuery,
    DeliverySchema,
    ExpireForm,
    KeyForm,
    KeySchema,
)

_KEYS = KeySchema(many=True, exclude=("secret",))
_KEY = KeySchema(exclude=("secret",))
_DELIVERIES = DeliverySchema(many=True)
#: Longest path segment taken as a job id (the column is a 32-bit integer).
_JOB_ID_DIGITS = 9


def _admin(action: str) -> ApiKey:
    """The admin key of this call, refused unless its role may do ``action``."""
    return require_key(given_key(), action)


def _load_form(schema: Any) -> dict[str, Any]:
    # Unknown fields are a 400 (a misspelt "expire" must not make a key that never expires).
    loaded: dict[str, Any] = schema.load(request.form)
    return loaded


def _one_key(row: ApiKey, fmt: str, secret: str | None = None) -> Response:
    document = _KEY.dump(row)
    if secret is not None:
        document["secret"] = secret
    return render(fmt, "keys", [document])


def _sentence(text: str) -> str:
    # The key functions speak in the CLI's lower-case clauses; errors here are sentences.
    return f"{text[:1].upper()}{text[1:].rstrip('.')}."


def _key_not_found(exc: KeyNotFound) -> ApiError:
    return ApiError(404, _sentence(str(exc).removesuffix("; see open311 keys list")))


@bp.get(f"/admin/keys.{FMT}")
def admin_key_list(fmt: str) -> Response:
    """Every key, oldest first, revoked and expired ones included; never a secret or hash."""
    _admin("manage")
    load_query(AdminQuery())
    return render(fmt, "keys", _KEYS.dump(list_keys()))


@bp.post(f"/admin/keys.{FMT}")
def admin_key_create(fmt: str) -> Response:
    """Make a key (as ``open311 keys create``); the answer shows its secret, this once."""
    _admin("manage")
    form = _load_form(KeyForm())
    try:
        row, secret = create_key(
            form["name"],
            role=form["role"],
            vendor=form.get("vendor"),
            expires_at=form.get("expires"),
        )
    except ValueError as exc:
        raise ApiError(400, _sentence(str(exc))) from None
    return _one_key(row, fmt, secret)


@bp.post(f"/admin/keys/<prefix>/revoke.{FMT}")
def admin_key_revoke(prefix: str, fmt: str) -> Response:
    """Refuse the key with ``prefix`` from now on (as ``open311 keys revoke``)."""
    _admin("manage")
    _load_form(AdminForm())
    try:
        row = revoke_key(prefix)
    except KeyNotFound as exc:
        raise _key_not_found(exc) from None
    return _one_key(row, fmt)


@bp.post(f"/admin/keys/<prefix>/expire.{FMT}")
def admin_key_expire(prefix: str, fmt: str) -> Response:
    """Set when the key with ``prefix`` stops working (as ``open311 keys expire``)."""
    _admin("manage")
    form = _load_form(ExpireForm())
    try:
        row = expire_key(prefix, form["at"] if "at" in form else form["in_"])
    except KeyNotFound as exc:
        raise _key_not_found(exc) from None
    return _one_key(row, fmt)


@bp.get(f"/admin/deliveries.{FMT}")
def admin_delivery_list(fmt: str) -> Response:
    """Delivery jobs newest first (as ``open311 dispatch list``), one page at a time.

    ``state`` takes job states and ``pending`` (queued and retrying), as a comma list or
    repeated; ``page_size`` is at most :data:`schemas.admin.DELIVERIES_MAX`.
    """
    _admin("dispatch")
    args = load_query(DeliveriesQuery(), ("state",))
    states = None
    if "state" in args:
        states = {s for name in args["state"] for s in (PENDING if name == "pending" else (name,))}
    size = args.get("page_size", DELIVERIES_DEFAULT)
    jobs = dispatch.list_jobs(states=states, limit=size, offset=(args.get("page", 1) - 1) * size)
    return render(fmt, "deliveries", _DELIVERIES.dump(jobs))


@bp.post(f"/admin/deliveries/<job_id>/retry.{FMT}")
def admin_delivery_retry(job_id: str, fmt: str) -> Response:
    """Re-queue a failed delivery (as ``open311 dispatch retry``): same idempotency key."""
    _admin("redeliver")
    _load_form(AdminForm())
    if not (job_id.isascii() and job_id.isdigit() and len(job_id) <= _JOB_ID_DIGITS):
        raise ApiError(404, f"No delivery {job_id[:50]!r}.")
    try:
        job = dispatch.retry(int(job_id))
    except dispatch.NoSuchRow:
        raise ApiError(404, f"No delivery {job_id!r}.") from None
    except dispatch.NotFailed as exc:
        raise ApiError(
            409, f"Delivery {job_id} is {exc.state}, not failed: only failed ones are re-queued."
        ) from None
    return render(fmt, "deliveries", _DELIVERIES.dump([job]))
