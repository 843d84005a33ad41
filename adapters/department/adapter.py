"""The ``department`` adapter: one work request per gateway request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from marshmallow import RAISE, fields, validate

from adapters.base import Adapter, Change, Delivery, Outbound, TransientError
from adapters.department import mapping
from adapters.department.client import Conflict, DepartmentClient
from adapters.http import HttpSettings


class DepartmentSettings(HttpSettings):
    """Where the department system is and the OAuth client it knows us as."""

    class Meta:
        unknown = RAISE

    client_id = fields.String(required=True)
    client_secret = fields.String(required=True)
    scope = fields.String(load_default=None)
    #: Our service codes -> the department's, where they differ.
    service_codes = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    #: The shared secret of the department's signed webhooks (vendors.md §5.2); best given
    #: as ``{env: NAME}``. Without it the gateway refuses the department's webhooks.
    webhook_secret = fields.String(load_default=None, validate=validate.Length(min=16))


class DepartmentAdapter(Adapter):
    """Delivers to a JSON REST department system with idempotent creates."""

    name = "department"
    settings_schema: ClassVar = DepartmentSettings

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        """Validate the settings and prepare the client."""
        super().__init__(settings)
        self.client = DepartmentClient(self.settings)

    def create(self, request: Outbound) -> Delivery:
        """Create the work request, or adopt the one an earlier attempt made.

        The job's idempotency key makes a repeated POST harmless; when an earlier attempt
        may have landed, the record is looked up by ``external_ref`` first, and a 409 with
        ``existing_id`` is adopted too.
        """
        if request.maybe_sent:
            found = self.lookup(request)
            if found is not None:
                return found
        body = mapping.work_request(request, self.settings["service_codes"])
        try:
            document = self.client.create(body, request.idempotency_key)
        except Conflict as conflict:
            return Delivery(reference=conflict.existing_id)
        try:
            return mapping.receipt(document)
        except ValueError as exc:
            raise TransientError(f"create: {exc}", outcome_unknown=True) from None

    def lookup(self, request: Outbound) -> Delivery | None:
        """The work request whose ``external_ref`` is our request id, if the department has one."""
        for document in self.client.find_by_reference(request.service_request_id):
            try:
                return mapping.receipt(document)
            except ValueError:
                continue
        return None

    def changes_since(self, since: datetime) -> list[Change]:
        """Work requests updated since ``since``, oldest first, unknown statuses included."""
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return [mapping.change(d) for d in self.client.search({"updated_since": stamp})]

    def health(self) -> bool:
        """Whether a token can be had now."""
        try:
            self.client._token_value(refresh=True)
        except Exception:
            return False
        return True

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()
