"""Vendor keys: which requests a key bound to one back end may see and change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select

from open311.errors import ApiError
from open311.extensions import db
from open311.models import ApiKey, DispatchJob, ServiceRequest

#: The reporter's contact fields a vendor key sees on its own requests (never device or
#: account ids: those identify the resident to us, not to the crew).
CONTACT_COLUMNS = (
    ServiceRequest.first_name,
    ServiceRequest.last_name,
    ServiceRequest.email,
    ServiceRequest.phone,
)
CONTACT_FIELDS = tuple(column.key for column in CONTACT_COLUMNS)


def with_contact(values: Sequence[Any]) -> dict[str, Any]:
    """The contact fields of a row's :data:`CONTACT_COLUMNS` values."""
    return dict(zip(CONTACT_FIELDS, values, strict=True))


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
