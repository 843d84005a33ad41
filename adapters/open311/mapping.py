"""Between our requests and another server's ``POST requests`` (no HTTP here)."""

from __future__ import annotations

from typing import Any

from adapters.base import Change, Delivery, Outbound
from schemas.fields import parse_w3c_datetime

#: Contact fields GeoReport v2 defines for POST; they go to the other server as given.
CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "device_id", "account_id")


def form(request: Outbound, settings: dict[str, Any]) -> list[tuple[str, str]]:
    """The form fields of ``POST requests`` (repeated keys for multi-value attributes)."""
    fields: list[tuple[str, str]] = [
        ("api_key", settings["api_key"]),
        ("service_code", settings["service_codes"].get(request.service_code, request.service_code)),
    ]
    if settings.get("jurisdiction_id"):
        fields.append(("jurisdiction_id", settings["jurisdiction_id"]))
    optional = {
        "lat": request.lat,
        "long": request.long,
        "address_string": request.address,
        "address_id": request.address_id,
        "description": request.description,
        "media_url": request.media_url,
    }
    fields += [(name, str(value)) for name, value in optional.items() if value is not None]
    fields += [
        (name, str(request.contact[name])) for name in CONTACT_FIELDS if request.contact.get(name)
    ]
    for code, value in request.attributes.items():
        if isinstance(value, list):
            fields += [(f"attribute[{code}][]", str(v)) for v in value]
        else:
            fields.append((f"attribute[{code}]", str(value)))
    return fields


def receipt(document: Any) -> Delivery:
    """Our receipt from the other server's answer: its id, else its token, else nothing.

    A ``blackbox`` service answers with neither; the delivery still counts, with no reference.

    :raises ValueError: when the answer is not a GeoReport receipt.
    """
    if not isinstance(document, list) or len(document) != 1 or not isinstance(document[0], dict):
        raise ValueError("not a one-item service_requests list")
    item = document[0]
    if item.get("service_request_id"):
        reference: str | None = str(item["service_request_id"])
    elif item.get("token"):
        reference = f"token:{item['token']}"
    else:
        reference = None
    return Delivery(reference=reference, service_notice=item.get("service_notice") or None)


def change(document: Any) -> Change | None:
    """A change from one request of the other server's feed; ``None`` when it has no id.

    Only ``open`` and ``closed`` are GeoReport statuses; anything else is reported raw.
    """
    if not isinstance(document, dict) or not document.get("service_request_id"):
        return None
    raw = str(document.get("status") or "")
    stamp = str(document.get("updated_datetime") or document.get("requested_datetime") or "")
    try:
        updated = parse_w3c_datetime(stamp)
    except ValueError:
        return None
    return Change(
        reference=str(document["service_request_id"]),
        status=raw.lower() if raw.lower() in ("open", "closed") else None,
        updated=updated,
        notes=document.get("status_notes"),
        raw_status=raw,
        identity=f"{document['service_request_id']}@{stamp}#{raw}",
    )
