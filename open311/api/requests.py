"""``POST requests``, ``GET requests`` and ``GET requests/{id}``."""

from __future__ import annotations

from flask import Response, current_app, request

from open311 import dispatch
from open311.api import FMT, bp, load_query
from open311.config import Settings
from open311.dispatch import delivery_state
from open311.errors import ApiError
from open311.feed import Window, find_requests, get_request
from open311.formats import render
from open311.intake import submit
from open311.jurisdictions import resolve_jurisdiction
from open311.keys import verify_key
from schemas.inputs import DetailQuery, RequestsQuery
from schemas.requests import RECEIPT_FIELDS, ReceiptSchema, ServiceRequestSchema

_REQUESTS = ServiceRequestSchema(many=True)
_RECEIPTS = {kind: ReceiptSchema(many=True, only=names) for kind, names in RECEIPT_FIELDS.items()}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@bp.post(f"/requests.{FMT}")
def create_request(fmt: str) -> Response:
    """Accept a request; the answer carries an id, a token or neither, by service type."""
    if request.mimetype not in _FORM_TYPES:
        raise ApiError(
            400, "Send the request as application/x-www-form-urlencoded or multipart/form-data."
        )
    if request.files:
        raise ApiError(400, "File uploads are not accepted; link media with media_url.")
    receipt = submit(
        request.form,
        api_key_override=request.args.get("api_key"),
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    settings: Settings = current_app.extensions["open311"]["settings"]
    if settings.dispatch == "inline" and receipt.service_request_id:
        dispatch.deliver(get_request(None, receipt.service_request_id))
    return render(fmt, "service_requests", _RECEIPTS[receipt.service_type].dump([receipt]))


@bp.get(f"/requests.{FMT}")
def request_list(fmt: str) -> Response:
    """Requests matching the filters, newest first, within the default window and cap."""
    args = load_query(RequestsQuery(), RequestsQuery.LIST_FIELDS)
    jurisdiction = resolve_jurisdiction(args.get("jurisdiction_id"))
    settings: Settings = current_app.extensions["open311"]["settings"]
    rows = find_requests(jurisdiction, args, Window(settings.window_days, settings.max_requests))
    return render(fmt, "service_requests", _REQUESTS.dump(rows))


@bp.get(f"/requests/<path:service_request_id>.{FMT}")
def request_detail(service_request_id: str, fmt: str) -> Response:
    """One request, still wrapped in a list (§3.2).

    With ``extensions=true`` and an admin ``api_key`` it also carries its delivery state;
    anyone else asking for that gets a 403, and plain output never shows it.
    """
    args = load_query(DetailQuery())
    jurisdiction = resolve_jurisdiction(args.get("jurisdiction_id"))
    if args.get("extensions"):
        key = verify_key(args.get("api_key"))
        if key is None or not key.admin:
            raise ApiError(403, "extensions=true needs an admin api_key.")
    row = get_request(jurisdiction, service_request_id)
    [item] = _REQUESTS.dump([row])
    if args.get("extensions"):
        item["dispatch"] = delivery_state(row)
    return render(fmt, "service_requests", [item])
