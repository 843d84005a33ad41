"""The ``open311`` adapter: forward a request to another GeoReport v2 server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, ValidationError, fields

from adapters.base import Adapter, Change, Delivery, Outbound, PartialChanges, TransientError
from adapters.http import HttpSettings
from adapters.open311 import mapping
from adapters.open311.client import Open311Client

log = logging.getLogger(__name__)

#: Rows asked for per page of the other server's change feed, and how many pages one pass
#: reads at most: past that the pass stops, and the next one carries on from where it got.
PAGE_SIZE = 1000
MAX_PAGES = 50


def _zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone {value!r}.") from None


class Open311Settings(HttpSettings):
    """The other server's base URL (e.g. ``https://x/open311/v2``), key and code table."""

    class Meta:
        unknown = RAISE

    api_key = fields.String(required=True)
    jurisdiction_id = fields.String(load_default=None)
    service_codes = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    #: The zone of times the other server writes without one (its wall clock).
    timezone = fields.String(load_default="America/Chicago", validate=_zone)


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

        Pages are followed by the answers' ``Link: <...>; rel="next"`` (this gateway's own
        keyset paging; a server without it gives one page) until there is none, a page is
        empty, a link comes round again, or :data:`MAX_PAGES` are read. In the last case the
        answer is a :class:`~adapters.base.PartialChanges` that says how far it got, so the
        pass moves its cursor only that far. A change seen on two pages counts once.
        """
        zone = ZoneInfo(self.settings["timezone"])
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        url: str | None = f"{self.client.base}/requests.json"
        params: dict[str, str] | None = {"updated_after": stamp, "page_size": str(PAGE_SIZE)}
        seen_urls: set[str] = set()
        changes: dict[str, Change] = {}
        pages = 0
        while url is not None and pages < MAX_PAGES:
            seen_urls.add(url)
            document, url = self.client.get_page(url, params)
            params, pages = None, pages + 1  # the next page's URL carries every filter
            if not isinstance(document, list):
                raise TransientError("GET requests: the answer is not a list")
            for item in document:
                found = mapping.change(item, zone)
                if found is not None:
                    changes.setdefault(found.identity or "", found)
            if not document or url in seen_urls:
                url = None
        ordered = sorted(changes.values(), key=lambda c: c.updated)
        if url is None or not ordered:
            return ordered
        log.warning("open311 changes: stopped after %d pages; the next pass goes on", pages)
        return PartialChanges(ordered, until=ordered[-1].updated)

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()
