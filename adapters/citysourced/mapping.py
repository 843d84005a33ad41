"""Between our requests and CitySourced v1 reports (no HTTP here).

CitySourced writes local America/Chicago time without an offset, booleans as ``True`` /
``False``, and does not promise element order; a report is a flat element whose children
are read by name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import Change, Outbound

CHICAGO = ZoneInfo("America/Chicago")

#: CitySourced ``StatusType`` -> GeoReport status (docs/vendors.md §5.1; only the first two
#: are attested, the rest are the simulator's proposal).
STATUSES = {
    "Open": "open",
    "Received": "open",
    "In Progress": "open",
    "On Hold": "open",
    "Closed": "closed",
    "Duplicate": "closed",
    "Not City Responsibility": "closed",
    "Cancelled": "closed",
}


def to_local(moment: datetime) -> str:
    """An aware datetime as CitySourced writes it: Chicago wall time, no offset."""
    return moment.astimezone(CHICAGO).strftime("%Y-%m-%dT%H:%M:%S")


def from_local(text: str, *, fold: int = 0) -> datetime:
    """A CitySourced timestamp (Chicago wall time, optional fraction) as an aware UTC time.

    In the repeated hour of the autumn change the text is ambiguous; ``fold=0`` takes the
    first (daylight) occurrence, as the zone database does.

    :raises ValueError: when the text is not such a timestamp.
    """
    naive = datetime.fromisoformat(text.strip())
    if naive.tzinfo is not None:  # a vendor that starts sending offsets is taken at its word
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=CHICAGO, fold=fold).astimezone(UTC)


def boolean(value: bool) -> str:
    """CitySourced's spelling of a boolean."""
    return "True" if value else "False"


def device_id(request: Outbound) -> str:
    """The ``DeviceId`` that names our request at CitySourced: derived from its key.

    ``GetReportsByDeviceId`` with it finds a report an earlier attempt created, even when
    the vendor ignores our ``ExternalRequestId``.
    """
    return f"gw-{request.idempotency_key}"


def create_fields(request: Outbound, request_type: dict[str, Any]) -> list[tuple[str, Any]]:
    """The body of ``CreateThreeOneOne`` for ``request``, in the documented order."""
    contact = request.contact
    anonymous = not any(contact.get(k) for k in ("first_name", "last_name", "email", "phone"))
    pairs = [("ExternalRequestId", request.service_request_id)]
    if request.address:
        pairs.append(("AddressString", request.address))
    return [
        ("DateCreated", to_local(request.requested_datetime)),
        ("DeviceType", "GATEWAY"),
        ("DeviceModel", "aurora-open311-gw"),
        ("DeviceId", device_id(request)),
        ("RequestType", request_type["name"]),
        ("RequestTypeId", str(request_type["id"])),
        ("Latitude", "" if request.lat is None else repr(request.lat)),
        ("Longitude", "" if request.long is None else repr(request.long)),
        ("Directionality", ""),
        # CitySourced requires a description; the service name is better than a refusal.
        ("Description", request.description or request.service_name),
        ("AuthorNameFirst", contact.get("first_name") or ""),
        ("AuthorNameLast", contact.get("last_name") or ""),
        ("AuthorEmail", contact.get("email") or ""),
        ("AuthorTelephone", contact.get("phone") or ""),
        ("AuthorIsAnonymous", boolean(anonymous)),
        ("ImageUrl", request.media_url or ""),
        ("KeyValuePairs", pairs),
    ]


def change(report: dict[str, str]) -> Change | None:
    """A GeoReport change from a report (status ``None`` when unknown); ``None`` without an id."""
    raw = report.get("StatusType", "")
    status = STATUSES.get(raw)
    if not report.get("Id"):
        return None
    stamp = report.get("DateUpdated") or report.get("DateCreated") or ""
    return Change(
        reference=report["Id"],
        status=status,
        updated=from_local(stamp),
        notes=report.get("TicketSla") or None,
        raw_status=raw,
        # CitySourced has no update ids: the report, its local time as written and the status
        # name one change, stable across re-reads (even in autumn's repeated hour).
        identity=f"{report['Id']}@{stamp}#{raw}",
    )
