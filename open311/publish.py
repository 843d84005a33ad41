"""What of a request is published, read straight from the database as wire values.

Listings and bulk feeds select exactly these columns and turn each row into the dict that
``schemas.requests.ServiceRequestSchema`` would dump (tests hold the two equal), without
building ORM objects: at a thousand rows a page, loading models and dumping them field by
field cost ten times what PostgreSQL takes to find the rows. JSON and XML (and CSV and
GeoJSON) are all rendered from that one dict. Reporter contact columns are not selected here,
so they cannot reach a feed whatever the filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from open311.models import Jurisdiction, Service, ServiceRequest
from open311.models.requests import PUBLISHED
from open311.models.updates import RequestUpdate
from schemas.fields import format_w3c_datetime
from schemas.requests import attribute_answers

#: The public fields in the spec's order, and where each comes from.
PUBLIC_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("service_request_id", ServiceRequest.service_request_id),
    ("status", ServiceRequest.status),
    ("status_notes", ServiceRequest.status_notes),
    ("service_name", Service.service_name),
    ("service_code", Service.service_code),
    ("description", ServiceRequest.description),
    ("agency_responsible", ServiceRequest.agency_responsible),
    ("service_notice", ServiceRequest.service_notice),
    ("requested_datetime", ServiceRequest.requested_datetime),
    ("updated_datetime", ServiceRequest.updated_datetime),
    ("expected_datetime", ServiceRequest.expected_datetime),
    ("address", ServiceRequest.address),
    ("address_id", ServiceRequest.address_id),
    ("zipcode", ServiceRequest.zipcode),
    ("lat", ServiceRequest.lat),
    ("long", ServiceRequest.long),
    ("media_url", ServiceRequest.media_url),
)
FIELD_NAMES = tuple(name for name, _ in PUBLIC_COLUMNS)
_WIDTH = len(PUBLIC_COLUMNS)
_DATETIME_POSITIONS = tuple(i for i, name in enumerate(FIELD_NAMES) if name.endswith("_datetime"))
#: The request a duplicate points to.
Parent = aliased(ServiceRequest, name="parent")
#: Extra columns of ``extensions=true``, after the public ones (see :func:`with_extensions`).
#: How many changes a request has been through (its ``servicerequestupdates``), counted on
#: the index of ``request_updates.request_pk``.
HISTORY_LENGTH = (
    select(func.count(RequestUpdate.id))
    .where(RequestUpdate.request_pk == ServiceRequest.id)
    .correlate(ServiceRequest)
    .scalar_subquery()
)

EXTENSION_COLUMNS = (
    ServiceRequest.channel,
    Service.group,
    ServiceRequest.attributes,
    Service.attributes,
    Parent.service_request_id,
    HISTORY_LENGTH,
)


def with_extensions(query: Select[Any]) -> Select[Any]:
    """``query`` with the :data:`EXTENSION_COLUMNS` added at its end."""
    return query.add_columns(*EXTENSION_COLUMNS).outerjoin(
        Parent, ServiceRequest.parent_pk == Parent.id
    )


#: Where the sort datetimes are in a row of :func:`public_select`, before formatting.
REQUESTED_AT = FIELD_NAMES.index("requested_datetime")
UPDATED_AT = FIELD_NAMES.index("updated_datetime")
WIDTH = _WIDTH


def public_select(jurisdiction: Jurisdiction | None, *extra: Any) -> Select[Any]:
    """Published requests (those with an id) as public columns, then ``extra`` columns."""
    query = (
        select(*(column for _, column in PUBLIC_COLUMNS), *extra)
        .join(Service, ServiceRequest.service_pk == Service.id)
        .where(PUBLISHED)
    )
    if jurisdiction is not None:
        query = query.where(ServiceRequest.jurisdiction_pk == jurisdiction.id)
    return query


def to_wire(values: Any) -> dict[str, Any]:
    """The public dict of a row of :func:`public_select` (extra columns are ignored)."""
    values = list(values[:_WIDTH])
    for i in _DATETIME_POSITIONS:
        if values[i] is not None:
            values[i] = format_w3c_datetime(values[i])
    return dict(zip(FIELD_NAMES, values, strict=True))


def to_wire_extended(values: Any, extension: Any) -> dict[str, Any]:
    """The public dict plus ``extended_attributes`` from the :data:`EXTENSION_COLUMNS` values.

    ``duplicate`` and ``parent_service_request_id`` follow Chicago's extension: a duplicate
    names the request it duplicates.
    """
    row = to_wire(values)
    channel, group, answers, definition, parent, history_length = extension
    row["extended_attributes"] = {
        "channel": channel,
        "group": group,
        "attributes": attribute_answers(answers or {}, definition or []),
        "duplicate": parent is not None,
        "parent_service_request_id": parent,
        "history_length": history_length,
    }
    return row


def wire_rows(rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """:func:`to_wire` over many rows."""
    return (to_wire(values) for values in rows)
