"""The 311 center itself: the request stays with the gateway's own record."""

from __future__ import annotations

from adapters.base import Adapter, Delivery, Outbound


class LocalAdapter(Adapter):
    """Requests handled in house; the gateway's record is the only record."""

    name = "local"

    def create(self, request: Outbound) -> Delivery:
        """Accept at once: our own id is the reference."""
        return Delivery(reference=request.service_request_id)
