"""Vendor keys: which requests a key bound to one back end may see and change."""

from __future__ import annotations

from sqlalchemy import Select, select

from open311.errors import ApiError
from open311.extensions import db
from open311.models import ApiKey, DispatchJob, ServiceRequest


def routed_to(backend: str) -> Select[tuple[int]]:
    """The ids of the requests whose delivery went, or is going, to ``backend``."""
    return select(DispatchJob.request_pk).where(DispatchJob.backend == backend)


def owns(key: ApiKey, row: ServiceRequest) -> bool:
    """Whether ``key`` may change ``row``: any non-vendor key, or the vendor it was routed to."""
    if key.vendor is None:
        return True
    query = routed_to(key.vendor).where(DispatchJob.request_pk == row.id)
    return db.session.scalar(query) is not None


def require_owner(key: ApiKey, row: ServiceRequest) -> None:
    """Refuse a vendor key's change to a request routed elsewhere.

    :raises ApiError: 403, naming nothing about the request's real back end.
    """
    if not owns(key, row):
        raise ApiError(403, "This key may only update requests routed to its vendor.")
