"""The ``citysourced`` adapter: one CitySourced report per gateway request."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, fields, validate

from adapters.base import Adapter, Change, Delivery, Outbound, PermanentError, TransientError
from adapters.citysourced import mapping
from adapters.citysourced.client import CitySourcedClient
from adapters.http import HttpSettings


class RequestType(Schema):
    """A CitySourced category: its name and number (static configuration, as in v1)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1))
    id = fields.Integer(required=True, strict=True)


class CitySourcedSettings(HttpSettings):
    """The tenant's endpoint, API key, output format and category table."""

    class Meta:
        unknown = RAISE

    api_key = fields.String(required=True, validate=validate.Length(min=1))
    output = fields.String(load_default="xml", validate=validate.OneOf(["xml", "json"]))
    city = fields.String(load_default="Aurora")
    state = fields.String(load_default="IL")
    #: Our service code -> CitySourced ``RequestType`` name and ``RequestTypeId``.
    request_types = fields.Dict(
        keys=fields.String(), values=fields.Nested(RequestType), required=True
    )


class CitySourcedAdapter(Adapter):
    """Delivers to CitySourced with ``CreateThreeOneOne``; finds retries by ``DeviceId``."""

    name = "citysourced"
    settings_schema: ClassVar = CitySourcedSettings

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        """Validate the settings and prepare the client."""
        super().__init__(settings)
        self.client = CitySourcedClient(self.settings)

    def create(self, request: Outbound) -> Delivery:
        """Create the report, after looking for one an earlier attempt may have made.

        A create answer without a ``ReportId`` is a failure whatever its HTTP status.
        """
        if request.maybe_sent:
            found = self.lookup(request)
            if found is not None:
                return found
        request_type = self.settings["request_types"].get(request.service_code)
        if request_type is None:
            raise PermanentError(f"no CitySourced request type for {request.service_code!r}")
        answer = self.client.call("CreateThreeOneOne", mapping.create_fields(request, request_type))
        report_id = answer.fields.get("ReportId", "")
        if not report_id:
            raise TransientError(
                f"CreateThreeOneOne: no ReportId ({answer.message[:200]!r})", outcome_unknown=True
            )
        return Delivery(reference=report_id)

    def lookup(self, request: Outbound) -> Delivery | None:
        """The report whose ``DeviceId`` is the one derived from our idempotency key."""
        device = mapping.device_id(request)
        answer = self.client.call(
            "GetReportsByDeviceId", [("DeviceId", device), ("DeviceType", "GATEWAY")]
        )
        matches = sorted(
            (r for r in answer.reports if r.get("DeviceId") == device and r.get("Id")),
            key=lambda r: int(r["Id"]) if r["Id"].isdigit() else 0,
        )
        return Delivery(reference=matches[0]["Id"]) if matches else None

    def changes_since(self, since: datetime) -> list[Change]:
        """Reports updated since ``since``, through the city-wide query (an extension)."""
        answer = self.client.call(
            "GetReportsByCityState",
            [
                ("City", self.settings["city"]),
                ("State", self.settings["state"]),
                ("DateUpdatedStart", mapping.to_local(since)),
                ("MaxResults", "100"),
            ],
        )
        changes = [mapping.change(report) for report in answer.reports]
        return [c for c in changes if c is not None]

    def update_status(self, reference: str, status: str, notes: str | None) -> None:
        """Tell CitySourced of a change made elsewhere, with ``UpdateThreeOneOne``.

        ``status`` is a CitySourced ``StatusType``; ``notes`` go in ``StatusNotes`` (an
        extension, vendors.md §5.1). An answer without an error ``Message`` is success.
        """
        self.client.call(
            "UpdateThreeOneOne",
            [
                ("TicketId", reference),
                ("StatusType", status),
                ("TicketSla", ""),
                ("StatusNotes", notes or ""),
            ],
        )

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()
