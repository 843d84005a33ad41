"""The OpenAPI 3.1 document of the GeoReport API, built from the marshmallow schemas.

Every parameter, body and answer is described by the same schema that loads or dumps it
(apispec's marshmallow plugin does the conversion), so the document cannot drift from what
the gateway checks. Paths come from the app's URL map: a route of the API blueprint without
an entry in :data:`open311.openapi_routes.OPERATIONS` fails the build, so no route can be
left undocumented.
Each resource's ``.json`` and ``.xml`` renderings are separate paths; XML bodies are
described as text (their element names are those of the JSON fields).
"""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields, validate

from open311.formats import MIMETYPES
from open311.openapi_routes import (
    ATTRIBUTE_FIELD,
    BLUEPRINTS,
    ERRORS,
    FORM,
    OPENAPI_VERSION,
    OPERATIONS,
    Op,
)
from schemas.errors import ErrorSchema
from schemas.fields import W3CDateTime
from schemas.inputs import (
    PostRequestForm,
)

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
