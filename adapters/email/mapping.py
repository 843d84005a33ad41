"""The message a department mailbox receives for a request (no SMTP here)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from adapters.base import Outbound


def message_id(request: Outbound, domain: str) -> str:
    """The request's ``Message-ID``: fixed per request, so every resend carries the same one.

    The department (and our own reply matching) can then recognise a duplicate sent after
    an SMTP session that failed once the message had been accepted.
    """
    return f"<SR-{request.service_request_id}.{request.idempotency_key[:8]}@{domain}>"


def summary(request: Outbound) -> str:
    """The plain-text body a person reads."""
    contact = request.contact
    name = " ".join(filter(None, (contact.get("first_name"), contact.get("last_name"))))
    reach = ", ".join(filter(None, (name, contact.get("email"), contact.get("phone"))))
    where = request.address or ""
    if request.lat is not None and request.long is not None:
        where = f"{where} ({request.lat}, {request.long})".strip()
    lines = [
        f"New service request {request.service_request_id}",
        f"Category: {request.service_name}",
        f"Location: {where or 'not given'}",
        f"Description: {request.description or ''}",
        f"Reporter: {reach or 'anonymous'}",
    ]
    if request.media_url:
        lines.append(f"Photo: {request.media_url}")
    for code, value in sorted(request.attributes.items()):
        lines.append(f"{code}: {value}")
    return "\n".join(lines) + "\n"


def json_copy(request: Outbound) -> dict[str, Any]:
    """The machine-readable copy attached to the message (GeoReport field names)."""
    return {
        "service_request_id": request.service_request_id,
        "service_code": request.service_code,
        "service_name": request.service_name,
        "jurisdiction_id": request.jurisdiction_id,
        "requested_datetime": request.requested_datetime.isoformat(),
        "description": request.description,
        "lat": request.lat,
        "long": request.long,
        "address": request.address,
        "address_id": request.address_id,
        "media_url": request.media_url,
        "attributes": dict(request.attributes),
        **{k: v for k, v in request.contact.items() if v},
    }


def build(request: Outbound, settings: dict[str, Any]) -> EmailMessage:
    """The whole message: a text summary plus a JSON copy, with our tracking headers."""
    message = EmailMessage()
    message["From"] = settings["sender"]
    message["To"] = ", ".join(settings["to"])
    message["Message-ID"] = message_id(request, settings["domain"])
    message["Date"] = formatdate(request.requested_datetime.timestamp())
    where = request.address or request.service_code
    message["Subject"] = (
        f"[{settings['tag']} #{request.service_request_id}] {request.service_name} - {where}"
    )
    message["X-Aurora311-Request-Id"] = request.service_request_id
    message["X-Aurora311-Service-Code"] = request.service_code
    message.set_content(summary(request))
    message.add_attachment(
        json.dumps(json_copy(request), indent=2).encode("utf-8"),
        maintype="application",
        subtype="json",
        filename=f"request-{request.service_request_id}.json",
    )
    return message
