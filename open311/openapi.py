"""The OpenAPI 3.1 document of the GeoReport API, built from the marshmallow schemas.

Every parameter, body and answer is described by the same schema that loads or dumps it
(apispec's marshmallow plugin does the conversion), so the document cannot drift from what
the gateway checks. Paths come from the app's URL map: a route of the API blueprint without
an entry in :data:`OPERATIONS` fails the build, so no route can be left undocumented.
Each resource's ``.json`` and ``.xml`` renderings are separate paths; XML bodies are
described as text (their element names are those of the JSON fields).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields, validate

from open311.formats import MIMETYPES
from schemas import admin
from schemas.discovery import DiscoverySchema
from schemas.errors import ErrorSchema
from schemas.fields import W3CDateTime
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

_FMT = re.compile(r"<any\(([^)]*)\):fmt>")
_VARIABLE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def expand_rule(rule: str) -> list[tuple[str, str | None]]:
    """The OpenAPI paths of a URL rule, one per format of its ``fmt`` suffix.

    ``/open311/v2/requests/<path:service_request_id>.<any(json, xml):fmt>`` gives
    ``/open311/v2/requests/{service_request_id}.json`` and the same ending in ``.xml``.
    """
    match = _FMT.search(rule)
    formats: list[str | None] = (
        [f.strip().strip("'\"") for f in match[1].split(",")] if match else [None]
    )
    paths = []
    for fmt in formats:
        path = _FMT.sub(fmt or "", rule)
        paths.append((_VARIABLE.sub(r"{\1}", path), fmt))
    return paths


def _error_responses(statuses: tuple[int, ...], fmt: str | None) -> dict[str, Any]:
    media = "text/xml" if fmt == "xml" else "application/json"
    schema: Any = {"type": "string"} if fmt == "xml" else "Errors"
    return {
        str(status): {"description": ERRORS[status], "content": {media: {"schema": schema}}}
        for status in statuses
    }


def _success(op: Op, fmt: str | None) -> dict[str, Any]:
    if fmt == "xml":
        content = {
            MIMETYPES["xml"]: {
                "schema": {
                    "type": "string",
                    "description": f"XML document with root <{op.root}>; elements as in JSON.",
                }
            }
        }
    else:
        content = {op.media or MIMETYPES["json"]: {"schema": op.answer}}
    response: dict[str, Any] = {"description": op.summary, "content": content}
    if op.headers:
        response["headers"] = op.headers
    return response


def _parameters(op: Op, variables: list[str], plugin: MarshmallowPlugin) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in variables
    ]
    if op.query is not None:
        # The key is the api_key security scheme, not a parameter of its own.
        converted = plugin.converter.schema2parameters(op.query(), location="query")  # type: ignore[union-attr]
        params += [p for p in converted if p["name"] != "api_key"]
    params += list(op.extra_parameters)
    return params


def _form_schema(form: dict[str, Any], plugin: MarshmallowPlugin) -> dict[str, Any]:
    schema = plugin.converter.schema2jsonschema(form["schema"])  # type: ignore[union-attr]
    schema["properties"].update(form.get("fields", {}))
    if form["schema"] is PostRequestForm:
        schema["patternProperties"] = {ATTRIBUTE_FIELD: {"type": "string", "maxLength": 4000}}
        schema.update(PostRequestForm.LOCATION_RULE)
    return schema


def _schema_name(schema: type[Schema] | Schema) -> str | None:
    # A schema cut down with only/exclude is written inline: it is not the full component.
    if isinstance(schema, Schema) and (schema.only or schema.exclude):
        return None
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema") or cls.__name__


def _exclusive_range(converter: Any, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
    # apispec writes Range(min_inclusive=False) as an inclusive minimum; OpenAPI 3.1 (JSON
    # Schema 2020-12) has exclusiveMinimum/exclusiveMaximum as numbers for it.
    out: dict[str, Any] = {}
    for check in field.validators:
        if not isinstance(check, validate.Range):
            continue
        if check.min is not None and not check.min_inclusive and "minimum" in ret:
            out["exclusiveMinimum"] = ret.pop("minimum")
        if check.max is not None and not check.max_inclusive and "maximum" in ret:
            out["exclusiveMaximum"] = ret.pop("maximum")
    return out


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route of :data:`BLUEPRINTS` in ``app``.

    :raises LookupError: for a route that :data:`OPERATIONS` does not document.
    """
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="open311-gateway",
        version=version("open311-gateway"),
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": "Open311 GeoReport v2 for myAurora 311, with extensions. "
            "Every resource answers in JSON (.json) or XML (.xml). Datetimes are answered as "
            "YYYY-MM-DDThh:mm:ssZ; inbound ones need a zone, and date filters also take a "
            "bare date (midnight UTC)."
        },
    )
    plugin.map_to_openapi_type(W3CDateTime, "string", "date-time")
    plugin.map_to_openapi_type(fields.Url, "string", "uri")
    plugin.converter.add_attribute_function(_exclusive_range)  # type: ignore[union-attr]
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema(
        "Errors", {"type": "array", "items": {"$ref": "#/components/schemas/Error"}}
    )
    spec.components.security_scheme("api_key", {"type": "apiKey", "in": "query", "name": "api_key"})
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.split(".")[0] not in BLUEPRINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = OPERATIONS.get((rule.endpoint, method))
            if op is None:
                raise LookupError(f"{method} {rule.rule} ({rule.endpoint}) is not documented")
            for path, fmt in expand_rule(rule.rule):
                variables = re.findall(r"\{(\w+)\}", path)
                operation: dict[str, Any] = {
                    "operationId": f"{rule.endpoint.split('.')[-1]}_{fmt or 'doc'}",
                    "summary": op.summary,
                    "parameters": _parameters(op, variables, plugin),
                    "responses": {
                        "200": _success(op, fmt),
                        # Routes without a fmt (bulk feeds, limits) answer errors in JSON.
                        # Every GeoReport route is rate-limited (open311/ratelimits.py).
                        **_error_responses((*op.errors, 429), fmt or "json"),
                    },
                }
                if op.form is not None:
                    form = op.form if isinstance(op.form, dict) else {"schema": op.form}
                    operation["requestBody"] = {
                        "required": True,
                        "content": {FORM: {"schema": _form_schema(form, plugin)}},
                    }
                if op.security is not None:
                    operation["security"] = op.security
                paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
