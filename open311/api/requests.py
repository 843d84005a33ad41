"""``POST requests``, ``GET requests`` and ``GET requests/{id}``."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, current_app, request

from open311 import dispatch
from open311.api import FMT, bp, load_query
from open311.config import Settings
from open311.dispatch import delivery_state
from open311.errors import ApiError
from open311.feed import Page, find_one, find_page, get_request
from open311.formats import render
from open311.intake import submit
from open311.jurisdictions import resolve_jurisdiction
from open311.keys import may, require_key, verify_key
from open311.updates import history
from schemas.inputs import DetailQuery, RequestsQuery
from schemas.requests import RECEIPT_FIELDS, ReceiptSchema

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
    """Requests matching the filters, one page at a time (newest first by default).

    ``X-Total-Count`` says how many match in all (on the first page and numbered pages);
    ``Link: <...>; rel="next"`` continues the listing after the last row of this page, and is
    absent on the last page.
    """
    args = load_query(RequestsQuery(), RequestsQuery.LIST_FIELDS)
    jurisdiction = resolve_jurisdiction(args.get("jurisdiction_id"))
    settings: Settings = current_app.extensions["open311"]["settings"]
    vendor = None
    if args.get("api_key"):
        # Only a vendor key changes what GET shows; other keys are ignored as the spec says.
        key = verify_key(args["api_key"])
        vendor = key.vendor if key is not None and key.role == "vendor" else None
    page = find_page(
        jurisdiction, args, settings, extended=bool(args.get("extensions")), vendor=vendor
    )
    response = render(fmt, "service_requests", page.rows)
    add_paging_headers(response, page, settings)
    return response


def add_paging_headers(response: Response, page: Page, settings: Settings) -> None:
    """Set ``X-Total-Count`` (when counted) and, when there is more, a ``Link`` onwards."""
    exposed = []
    if page.total is not None:
        response.headers["X-Total-Count"] = str(page.total)
        exposed.append("X-Total-Count")
    if page.next_cursor is not None:
        replaced = ("page", "page_size", "cursor")
        params = [(k, v) for k, v in request.args.items(multi=True) if k not in replaced]
        params += [("page_size", str(page.page_size)), ("cursor", page.next_cursor)]
        base = settings.public_url or request.url_root.rstrip("/")
        response.headers["Link"] = f'<{base}{request.path}?{urlencode(params)}>; rel="next"'
        exposed.append("Link")
    if exposed:
        # Browsers hide non-simple headers from scripts on other origins unless exposed.
        response.headers["Access-Control-Expose-Headers"] = ", ".join(exposed)


@bp.get(f"/requests/<path:service_request_id>.{FMT}")
def request_detail(service_request_id: str, fmt: str) -> Response:
    """One request, still wrapped in a list (§3.2).

    ``extensions=true`` adds the public ``extended_attributes``, with the request's update
    history (mySociety's ``request_update`` fields, oldest first); with an admin ``api_key`` it
    also carries the delivery state (``dispatch``), which no other caller ever sees.
    """
    args = load_query(DetailQuery())
    jurisdiction = resolve_jurisdiction(args.get("jurisdiction_id"))
    extended = bool(args.get("extensions"))
    item = find_one(jurisdiction, service_request_id, extended=extended)
    if extended:
        item["extended_attributes"]["updates"] = history(item["service_request_id"])
    if extended and args.get("api_key"):
        key = require_key(args["api_key"])
        if may(key, "dispatch"):
            item["dispatch"] = delivery_state(get_request(jurisdiction, service_request_id))
    return render(fmt, "service_requests", [item])
