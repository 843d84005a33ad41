"""The ``open311`` adapter: forward a request to another GeoReport v2 server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from marshmallow import RAISE, fields

from adapters.base import Adapter, Change, Delivery, Outbound, TransientError
from adapters.http import HttpSettings
from adapters.open311 import mapping
from adapters.open311.client import Open311Client


class Open311Settings(HttpSettings):
    """The other server's base URL (e.g. ``https://x/open311/v2``), key and code table."""

    class Meta:
        unknown = RAISE

    api_key = fields.String(required=True)
    jurisdiction_id = fields.String(load_default=None)
    service_codes = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class Open311Adapter(Adapter):
    """Forwards with ``POST requests.json``; retries reuse the job's ``Idempotency-Key``.

    GeoReport v2 has no look-up by a client's reference, so a retry after an unknown outcome
    relies on the other server honouring ``Idempotency-Key`` (this gateway does) to answer
    the original receipt instead of creating a second request.
    """

    name = "open311"
    settings_schema: ClassVar = Open311Settings

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        """Validate the settings and prepare the client."""
        super().__init__(settings)
        self.client = Open311Client(self.settings)

    def create(self, request: Outbound) -> Delivery:
        """Post the request; the other server's id (or token) is the reference."""
        document = self.client.post_request(
            mapping.form(request, self.settings), request.idempotency_key
        )
        try:
            return mapping.receipt(document)
        except ValueError as exc:
            raise TransientError(f"POST requests: {exc}", outcome_unknown=True) from None

    def changes_since(self, since: datetime) -> list[Change]:
        """Requests the other server changed since ``since`` (its change feed, oldest first).

        Only the first page (up to 1,000 changes) of each window is read; following the
        other server's ``Link: rel=next`` pages is not done yet.
        """
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        document = self.client.get_requests({"updated_after": stamp, "page_size": "1000"})
        if not isinstance(document, list):
            raise TransientError("GET requests: the answer is not a list")
        changes = [mapping.change(item) for item in document]
        return [c for c in changes if c is not None]

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()
