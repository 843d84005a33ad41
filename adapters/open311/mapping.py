"""Between our requests and another server's ``POST requests`` (no HTTP here)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import Change, Delivery, Outbound
from schemas.fields import parse_w3c_datetime
from schemas.inputs import text_problem

#: Where a server writes its times without a zone (as San Francisco's feed does), they are
#: read as wall time here unless the back end's ``timezone`` setting names another zone.
CHICAGO = ZoneInfo("America/Chicago")

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


def moment(text: str, zone: tzinfo = CHICAGO) -> datetime:
    """A feed's datetime as an aware UTC time; one without a zone is wall time in ``zone``.

    In the hour that repeats when daylight saving ends the wall time is ambiguous; the first
    (daylight) occurrence is taken, as for CitySourced, so every poll reads it alike.

    :raises ValueError: when the text is not a datetime at all.
    """
    try:
        return parse_w3c_datetime(text).astimezone(UTC)
    except ValueError as exc:
        if "no time zone" not in str(exc):
            raise
    naive = datetime.fromisoformat(text.strip())
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _agency(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or text_problem(value):
        return None
    return value.strip()[:200]


def _expected(value: Any, zone: tzinfo) -> datetime | None:
    # A date the other server cannot write is not worth losing the status change over.
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return moment(value, zone)
    except ValueError:
        return None


def change(document: Any, zone: tzinfo = CHICAGO) -> Change | None:
    """A change from one request of the other server's feed; ``None`` when it has no id or
    no readable time.

    Only ``open`` and ``closed`` are GeoReport statuses; anything else is reported raw. The
    request's ``agency_responsible`` and ``expected_datetime`` come along when given.
    """
    if not isinstance(document, dict) or not document.get("service_request_id"):
        return None
    raw = str(document.get("status") or "")
    stamp = str(document.get("updated_datetime") or document.get("requested_datetime") or "")
    try:
        updated = moment(stamp, zone)
    except ValueError:
        return None
    return Change(
        reference=str(document["service_request_id"]),
        status=raw.lower() if raw.lower() in ("open", "closed") else None,
        updated=updated,
        notes=document.get("status_notes"),
        raw_status=raw,
        identity=f"{document['service_request_id']}@{stamp}#{raw}",
        agency=_agency(document.get("agency_responsible")),
        expected=_expected(document.get("expected_datetime"), zone),
    )
