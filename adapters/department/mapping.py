"""Between our requests and the department's work requests (no HTTP here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.base import Change, Delivery, Outbound

#: Department statuses that are still open in GeoReport terms; the rest are closed.
OPEN_STATUSES = frozenset({"received", "triaged", "assigned", "in_progress", "on_hold"})
CLOSED_STATUSES = frozenset({"completed", "closed_duplicate", "closed_not_actionable", "cancelled"})


def work_request(request: Outbound, service_codes: dict[str, str]) -> dict[str, Any]:
    """The body of ``POST /api/v1/work-requests`` for ``request``.

    ``external_ref`` is our public request id: the department's 409 for a known reference
    is what lets a retry find the record an earlier attempt created.
    """
    contact = request.contact
    body: dict[str, Any] = {
        "external_ref": request.service_request_id,
        "service_code": service_codes.get(request.service_code, request.service_code),
        "description": request.description or "",
        "location": {"lat": request.lat, "lng": request.long, "address": request.address},
        "reporter": {
            "first_name": contact.get("first_name"),
            "last_name": contact.get("last_name"),
            "email": contact.get("email"),
            "phone": contact.get("phone"),
        },
        "attributes": dict(request.attributes),
        "media_urls": [request.media_url] if request.media_url else [],
        "submitted_at": request.requested_datetime.isoformat(),
    }
    return body


def receipt(document: Any) -> Delivery:
    """Our receipt from a work-request document.

    :raises ValueError: when the document has no usable ``id``.
    """
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        raise ValueError("work request without an id")
    if not document["id"]:
        raise ValueError("work request with an empty id")
    return Delivery(reference=document["id"])


def change(document: dict[str, Any]) -> Change:
    """A GeoReport change from a work-request document (status ``None`` when unknown).

    The department numbers each record's states (``version``), so ``id`` and ``version``
    identify a change whether it comes by poll or by webhook.

    :raises ValueError: when the document lacks an id, a time or a usable version.
    """
    status = document.get("status")
    if status in OPEN_STATUSES:
        public: str | None = "open"
    elif status in CLOSED_STATUSES:
        public = "closed"
    else:
        public = None
    record_id, version = document.get("id"), document.get("version")
    if not isinstance(record_id, str) or not record_id:
        raise ValueError("work request without an id")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValueError("work request with a version that is not a number")
    return Change(
        reference=record_id,
        status=public,
        updated=datetime.fromisoformat(str(document["updated_at"]).replace("Z", "+00:00")),
        notes=document.get("public_note"),
        raw_status=status if isinstance(status, str) else None,
        version=version,
        identity=f"{record_id}#v{version}" if version is not None else None,
    )
