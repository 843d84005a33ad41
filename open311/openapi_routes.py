"""What each route of the GeoReport API is, for the OpenAPI document (:mod:`open311.openapi`).

One :class:`Op` per (endpoint, method): its summary, the schemas of its query, form and
answer (the same ones that load and dump them), its XML root and the errors it can answer.
A route of the API blueprint missing here fails the document's build.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from marshmallow import Schema

from schemas import admin
from schemas.discovery import DiscoverySchema
from schemas.inputs import (
    DetailQuery,
    JurisdictionQuery,
    LocationQuery,
    PostRequestForm,
    RequestsQuery,
)
from schemas.limits import JurisdictionSchema, LocationCheckSchema
from schemas.requests import ListedRequestSchema, ReceiptSchema, TokenSchema
from schemas.services import ServiceDefinitionSchema, ServiceSchema
from schemas.subscriptions import SubscriptionForm, SubscriptionSchema
from schemas.updates import PostUpdateForm, RequestUpdateSchema, UpdatesQuery

#: Blueprints whose routes the document covers. ``hooks`` (department webhooks, signed
#: with a per-department secret, vendors.md §5.2) and the map page are not part of the API.
BLUEPRINTS = ("georeport",)
OPENAPI_VERSION = "3.1.0"
FORM = "application/x-www-form-urlencoded"
#: The form fields ``attribute[CODE]`` and ``attribute[CODE][]`` (intake.py reads the same).
ATTRIBUTE_FIELD = r"^attribute\[[^\[\]]+\](\[\])?$"
#: Why each error status can happen; each operation lists the ones it can answer (400 on
#: every route: a query string that is not UTF-8 is refused before any handler runs).
ERRORS = {
    400: "Bad input: unknown or invalid parameters, one line per problem.",
    401: "Not authenticated.",
    403: "Missing or invalid api_key, or a key that may not do this.",
    404: "Unknown resource or jurisdiction.",
    409: "In conflict with the current state: an Idempotency-Key used before with different "
    "fields, or a delivery to re-queue that has not failed.",
    413: "The request body is larger than the gateway accepts.",
    429: "Over this client's rate limit for this kind of request; see Retry-After.",
    503: "The database is unreachable; try again shortly (Retry-After).",
}
READ_ERRORS = (400, 404, 503)
#: The key as an optional credential: GET answers are public, a key changes what some show.
OPTIONAL_KEY: list[dict[str, list[str]]] = [{}, {"api_key": []}]
REQUIRED_KEY: list[dict[str, list[str]]] = [{"api_key": []}]


@dataclass(frozen=True)
class Op:
    """How one route is documented: its schemas, its root XML element and its errors."""

    summary: str
    root: str
    answer: Schema | dict[str, Any]
    query: type[Schema] | None = JurisdictionQuery
    form: Schema | dict[str, Any] | None = None
    errors: tuple[int, ...] = READ_ERRORS
    security: list[dict[str, list[str]]] | None = None
    headers: dict[str, Any] = dataclass_field(default_factory=dict)
    extra_parameters: tuple[dict[str, Any], ...] = ()
    #: Media type of the success answer when the route has no ``fmt`` (bulk feeds).
    media: str | None = None


def _admin_op(
    summary: str,
    root: str,
    answer: Schema,
    *,
    query: type[Schema] | None = None,
    form: type[Schema] | None = None,
    errors: tuple[int, ...] = (),
) -> Op:
    """An admin key's route: the key is required; a POST's form may be too large."""
    statuses = (400, 403, *errors, *((413,) if form else ()), 503)
    return Op(summary, root, answer, query, form, statuses, REQUIRED_KEY)


PAGING_HEADERS = {
    "X-Total-Count": {
        "description": "Rows matching in all (first and numbered pages only).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Link": {
        "description": 'The next page, as <URL>; rel="next"; absent on the last page.',
        "schema": {"type": "string"},
    },
}

#: Every documented route: (endpoint, method) -> how it is documented.
OPERATIONS: dict[tuple[str, str], Op] = {
    ("georeport.discovery", "GET"): Op(
        "Service Discovery: contact, key service and endpoints.", "discovery", DiscoverySchema()
    ),
    ("georeport.service_list", "GET"): Op(
        "Active services, in catalogue order.", "services", ServiceSchema(many=True)
    ),
    ("georeport.service_definition", "GET"): Op(
        "A service's definition (its attributes).", "service_definition", ServiceDefinitionSchema()
    ),
    ("georeport.create_request", "POST"): Op(
        "Submit a request; the answer has an id, a token or neither, by service type.",
        "service_requests",
        ReceiptSchema(many=True),
        query=None,
        # client_request_id is taken off the form before PostRequestForm loads it (replay.py).
        form={"schema": PostRequestForm, "fields": {"client_request_id": {"type": "string"}}},
        errors=(400, 403, 404, 409, 413, 503),
        security=REQUIRED_KEY,
        extra_parameters=(
            {
                "in": "header",
                "name": "Idempotency-Key",
                "description": "A replay with the same key and fields answers the first receipt.",
                "schema": {"type": "string", "maxLength": 200},
            },
        ),
    ),
    ("georeport.request_list", "GET"): Op(
        "Requests matching the filters, one page at a time.",
        "service_requests",
        ListedRequestSchema(many=True),
        query=RequestsQuery,
        security=OPTIONAL_KEY,
        headers=PAGING_HEADERS,
    ),
    ("georeport.request_detail", "GET"): Op(
        "One request, in a one-element list.",
        "service_requests",
        ListedRequestSchema(many=True),
        query=DetailQuery,
        errors=(400, 403, 404, 503),
        security=OPTIONAL_KEY,
    ),
    ("georeport.token_lookup", "GET"): Op(
        "A batch request's token, with its id once known.",
        "service_requests",
        TokenSchema(many=True),
    ),
    ("georeport.update_list", "GET"): Op(
        "Status updates in a window, oldest first (mySociety's extension).",
        "service_request_updates",
        RequestUpdateSchema(many=True),
        query=UpdatesQuery,
    ),
    ("georeport.update_create", "POST"): Op(
        "Record an update of a request (mySociety's extension).",
        "service_request_updates",
        RequestUpdateSchema(many=True, only=("update_id",)),
        query=None,
        form={"schema": PostUpdateForm},
        errors=(400, 403, 404, 413, 503),
        security=REQUIRED_KEY,
    ),
    ("georeport.requests_geojson", "GET"): Op(
        "Every matching request as a GeoJSON FeatureCollection, streamed.",
        "",
        {"type": "object"},
        query=RequestsQuery,
        media="application/geo+json",
    ),
    ("georeport.requests_csv", "GET"): Op(
        "Every matching request as CSV, one row each, streamed.",
        "",
        {"type": "string"},
        query=RequestsQuery,
        media="text/csv",
    ),
    ("georeport.validate_location", "GET"): Op(
        "Whether a point is served, by which jurisdiction, and for a service if named.",
        "location",
        LocationCheckSchema(),
        query=LocationQuery,
    ),
    ("georeport.jurisdiction_list", "GET"): Op(
        "Every jurisdiction, with the box around its limits.",
        "jurisdictions",
        JurisdictionSchema(many=True),
    ),
    ("georeport.jurisdiction_limits", "GET"): Op(
        "A jurisdiction's limits as a GeoJSON Feature.",
        "",
        {"type": "object"},
        query=None,
        errors=(400, 404, 503),
        media="application/geo+json",
    ),
    ("georeport.subscription_create", "POST"): Op(
        "Register a webhook for one request or a filter; the answer shows its secret once.",
        "",
        SubscriptionSchema(many=True),
        query=None,
        form={"schema": SubscriptionForm},
        errors=(400, 403, 404, 413, 503),
        security=REQUIRED_KEY,
    ),
    ("georeport.subscription_list", "GET"): Op(
        "The key's own live subscriptions.",
        "",
        SubscriptionSchema(many=True, exclude=("secret",)),
        query=None,
        errors=(400, 403, 503),
        security=REQUIRED_KEY,
    ),
    ("georeport.subscription_delete", "DELETE"): Op(
        "End one of the key's subscriptions.",
        "",
        SubscriptionSchema(many=True, exclude=("secret",)),
        query=None,
        errors=(400, 403, 404, 503),
        security=REQUIRED_KEY,
    ),
    # The admin key's routes (open311/api/admin.py); every other key gets a 403.
    ("georeport.admin_key_list", "GET"): _admin_op(
        "Every API key, oldest first: prefix, name, role, dates; never a secret or hash.",
        "keys",
        admin.KeySchema(many=True, exclude=("secret",)),
        query=admin.AdminQuery,
    ),
    ("georeport.admin_key_create", "POST"): _admin_op(
        "Create an API key; the answer shows its secret, this once only.",
        "keys",
        admin.KeySchema(many=True),
        form=admin.KeyForm,
    ),
    ("georeport.admin_key_revoke", "POST"): _admin_op(
        "Revoke the key with this prefix: refused from now on.",
        "keys",
        admin.KeySchema(many=True, exclude=("secret",)),
        form=admin.AdminForm,
        errors=(404,),
    ),
    ("georeport.admin_key_expire", "POST"): _admin_op(
        "Set when the key with this prefix stops working (a moment past: at once).",
        "keys",
        admin.KeySchema(many=True, exclude=("secret",)),
        form=admin.ExpireForm,
        errors=(404,),
    ),
    ("georeport.admin_delivery_list", "GET"): _admin_op(
        "Deliveries to back ends, newest first, one page at a time.",
        "deliveries",
        admin.DeliverySchema(many=True),
        query=admin.DeliveriesQuery,
    ),
    ("georeport.admin_delivery_retry", "POST"): _admin_op(
        "Re-queue a failed delivery, with the same idempotency key.",
        "deliveries",
        admin.DeliverySchema(many=True),
        form=admin.AdminForm,
        errors=(404, 409),
    ),
    ("georeport.openapi_document", "GET"): Op(
        "This document.",
        "",
        {"type": "object"},
        query=None,
        errors=(400,),
        media="application/json",
    ),
}
