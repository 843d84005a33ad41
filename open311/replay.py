"""Exactly once from the app too: ``Idempotency-Key`` (or ``client_request_id``) on POST.

A client that did not see our answer sends the same POST again with the same key. The same
key with the same body gets the original answer and creates nothing; the same key with a
different body is a 409. Keys are scoped to the API key, and the unique constraint on
``(api_key_pk, client_key)`` settles two simultaneous replays: one insert wins, the other
is answered from the winner's row.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from open311.errors import ApiError
from open311.extensions import db
from open311.models import ServiceRequest
from schemas.inputs import text_problem

#: The form field form-only clients use instead of the header (as Libre311 does).
FORM_FIELD = "client_request_id"
MAX_KEY = 200


def client_key(header: str | None, form: MultiDict[str, str]) -> str | None:
    """The client's idempotency key from the header or the form (they must agree).

    :raises ApiError: 400 for an unusable key.
    """
    values = {v for v in (header, *form.getlist(FORM_FIELD)) if v not in (None, "")}
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, "Idempotency-Key and client_request_id disagree; send one key.")
    key = values.pop()
    assert key is not None
    if len(key) > MAX_KEY or text_problem(key) or key != key.strip():
        raise ApiError(400, f"Idempotency-Key must be one line of at most {MAX_KEY} characters.")
    return key


def body_digest(form: MultiDict[str, str], api_key_override: str | None) -> str:
    """A digest of what the POST asked for, independent of field order."""
    items = sorted((k, v) for k, values in form.lists() for v in values if k != FORM_FIELD)
    if api_key_override is not None:
        items.append(("api_key", api_key_override))
    return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()


def earlier(api_key_pk: int, key: str, digest: str) -> ServiceRequest | None:
    """The request an earlier POST with this key made, or ``None``.

    :raises ApiError: 409 when that POST had a different body.
    """
    row = db.session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.api_key_pk == api_key_pk, ServiceRequest.client_key == key
        )
    )
    if row is not None and row.body_digest != digest:
        raise ApiError(
            409, "This Idempotency-Key was already used for a different request; use a new key."
        )
    return row
