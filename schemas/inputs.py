"""Inbound data: the POST form, query strings, and attribute answers."""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from schemas.fields import W3CDateTime, parse_w3c_datetime
from schemas.services import LIST_DATATYPES

CHANNELS = ("phone", "web", "app", "walk-in", "email")
STATUSES = ("open", "closed")
DESCRIPTION_MAX = 4000
#: Largest ``radius`` of a geographic search, in metres: the whole region, not the planet.
RADIUS_MAX = 100_000

#: A number as people and programs write it. Python's float() also takes "1_0" (10),
#: Arabic-Indic digits and "infinity"; a coordinate read that way is not what was meant.
_DECIMAL = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)

# XML 1.0 cannot carry these; refusing them at the door keeps every stored text renderable.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: What :func:`text_problem` accepts (and, for one line, without CR or LF), as JSON Schema
#: patterns for the OpenAPI document; tests/unit/test_text_patterns.py holds them equal.
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffd-\uffff]*$"
LINE_PATTERN = r"^[^\u0000-\u0008\u000a-\u001f\ufffd-\uffff]*$"


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    if "\ufffd" in value:
        # Werkzeug decodes bad bytes to U+FFFD; storing that would corrupt what was sent.
        return "Is not valid UTF-8 text."
    if _CONTROL.search(value):
        return "Contains control characters."
    return None


def _printable(value: str) -> None:
    problem = text_problem(value)
    if problem:
        raise ValidationError(problem)


def _one_line(value: str) -> None:
    _printable(value)
    if "\n" in value or "\r" in value:
        raise ValidationError("Must be a single line of text.")


def Text(max_length: int = 200, *, one_line: bool = True, **kwargs: Any) -> fields.String:
    """A text field of bounded length with no control characters."""
    checks = [validate.Length(max=max_length), _one_line if one_line else _printable]
    pattern = LINE_PATTERN if one_line else TEXT_PATTERN
    return fields.String(validate=checks, metadata={"pattern": pattern}, **kwargs)


def is_decimal(text: str) -> bool:
    """Whether ``text`` is a plain decimal number (optionally signed, with an exponent)."""
    return _DECIMAL.fullmatch(text) is not None


class Number(fields.Float):
    """A finite float written in plain decimal digits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str) and not is_decimal(value):
            raise self.make_error("invalid")
        number: float = super()._deserialize(value, attr, data, **kwargs)
        return number


def blank_to_missing(data: Any) -> Any:
    """``data`` without its blank values.

    This is the spec's rule for optional arguments: sending ``x=`` means the same as not
    sending ``x`` at all."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (isinstance(v, str) and v.strip() == "")}
    return data


class StrictInput(Schema):
    """A query string or form whose blank values count as not sent and whose unknown fields
    are refused (a misspelt parameter must not be silently ignored)."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _drop_blanks(self, data: Any, **kwargs: Any) -> Any:
        return blank_to_missing(data)


class PostRequestForm(StrictInput):
    """The fields of ``POST requests`` other than ``attribute[...]``."""

    jurisdiction_id = Text()
    api_key = Text()
    service_code = Text(required=True)
    lat = Number(validate=validate.Range(min=-90, max=90))
    long = Number(validate=validate.Range(min=-180, max=180))
    address_string = Text(1000)
    address_id = Text()
    email = fields.Email(validate=[validate.Length(max=320), _one_line])
    device_id = Text()
    account_id = Text()
    first_name = Text()
    last_name = Text()
    phone = Text(50)
    description = Text(DESCRIPTION_MAX, one_line=False)
    media_url = fields.Url(
        schemes={"http", "https"}, validate=[validate.Length(max=2000), _one_line]
    )
    channel = fields.String(validate=validate.OneOf(CHANNELS))

    #: :meth:`_location` as JSON Schema, for the OpenAPI document (open311/openapi.py).
    LOCATION_RULE: dict[str, Any] = {  # noqa: RUF012
        "anyOf": [
            {"required": ["lat", "long"]},
            {"required": ["address_string"]},
            {"required": ["address_id"]},
        ],
        "dependentRequired": {"lat": ["long"], "long": ["lat"]},
    }

    @validates_schema
    def _location(self, data: dict[str, Any], **kwargs: Any) -> None:
        has_lat, has_long = "lat" in data, "long" in data
        if has_lat != has_long:
            missing = "long" if has_lat else "lat"
            raise ValidationError(f"lat and long must be sent together; {missing} is missing.")
        if not (has_lat or data.get("address_string") or data.get("address_id")):
            raise ValidationError(
                "A location is required: lat and long, address_string, or address_id."
            )


class JurisdictionQuery(StrictInput):
    """Query string of the GET methods that take only ``jurisdiction_id``."""

    jurisdiction_id = Text()
    # Clients copy the POST habit of sending their key; GET ignores it (spec: no key on GET).
    api_key = fields.String(load_only=True)


def CommaList(inner: fields.Field) -> fields.List:
    """A list given as repeated parameters, comma lists, or both."""
    return fields.List(inner, validate=validate.Length(max=1000))


class DetailQuery(JurisdictionQuery):
    """Query string of ``GET requests/{id}``: staff may ask for the delivery state."""

    extensions = fields.Boolean(truthy={"true"}, falsy={"false"})
    api_key = Text()


class RequestsQuery(JurisdictionQuery):
    """Query string of ``GET requests``."""

    service_request_id = CommaList(Text())
    service_code = CommaList(Text())
    status = CommaList(fields.String(validate=validate.OneOf(STATUSES)))
    start_date = W3CDateTime()
    end_date = W3CDateTime()
    # Extensions (georeport-v2.md §2): paging, change feed, geographic and text search.
    page = fields.Integer(validate=validate.Range(min=0, max=1_000_000))
    page_size = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(400)
    updated_after = W3CDateTime()
    updated_before = W3CDateTime()
    bbox = fields.String(validate=validate.Length(max=200))
    lat = Number(validate=validate.Range(min=-90, max=90))
    long = Number(validate=validate.Range(min=-180, max=180))
    radius = Number(validate=validate.Range(min=0, max=RADIUS_MAX, min_inclusive=False))
    q = Text(200)
    extensions = fields.Boolean(truthy={"true", "1"}, falsy={"false", "0"})

    LIST_FIELDS = ("service_request_id", "service_code", "status")

    @pre_load
    def _split_lists(self, data: Any, **kwargs: Any) -> Any:
        for name in self.LIST_FIELDS:
            if name in data:
                items = [part.strip() for part in data[name].split(",")]
                items = [item for item in items if item]
                if items:
                    data[name] = items
                else:
                    del data[name]
        return data

    @validates_schema
    def _extensions(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [name for name in ("lat", "long", "radius") if name in data]
        if given and len(given) < 3:
            raise ValidationError("lat, long and radius (in metres) must be sent together.")
        if "page" in data and "cursor" in data:
            raise ValidationError("Send page or cursor, not both; cursor continues a listing.")
        if "bbox" in data:
            data["bbox"] = parse_bbox(data["bbox"])
        after, before = data.get("updated_after"), data.get("updated_before")
        if after is not None and before is not None and before <= after:
            raise ValidationError("updated_before must be later than updated_after.")

    @post_load
    def _first_page(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("page") == 0:
            data["page"] = 1  # uReport and others treat page 0 as the first page
        return data


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Read ``bbox=minLon,minLat,maxLon,maxLat`` (the 6Aika/Bloomington order).

    :raises ValidationError: unless it is four finite numbers, in range, min before max.
    """
    parts = [part.strip() for part in text.split(",")]
    message = "bbox must be minLon,minLat,maxLon,maxLat in degrees, e.g. -88.41,41.67,-88.2,41.83."
    if len(parts) != 4:
        raise ValidationError({"bbox": [message]})
    if not all(is_decimal(part) for part in parts):
        raise ValidationError({"bbox": [message]})
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
    except ValueError:
        raise ValidationError({"bbox": [message]}) from None
    values = (min_lon, min_lat, max_lon, max_lat)
    if not all(math.isfinite(v) for v in values):
        raise ValidationError({"bbox": [message]})
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValidationError(
            {"bbox": [message + " Longitudes within ±180, latitudes within ±90, min <= max."]}
        )
    return values


class LocationQuery(JurisdictionQuery):
    """Query string of ``GET locations/validate``."""

    lat = Number(required=True, validate=validate.Range(min=-90, max=90))
    long = Number(required=True, validate=validate.Range(min=-180, max=180))
    service_code = Text()


def query_to_dict(args: Any, list_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """Flatten a query MultiDict; list fields join repeated parameters with commas."""
    out: dict[str, Any] = {}
    for key in args:
        values = args.getlist(key)
        out[key] = ",".join(values) if key in list_fields else values[-1]
    return out


# -- attribute answers -------------------------------------------------------------------------


def _is_number(value: str) -> None:
    if not is_decimal(value):
        raise ValidationError(f"{value!r} is not a number.")
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a number.") from None
    if not math.isfinite(number):
        raise ValidationError(f"{value!r} is not a finite number.")


def _is_datetime(value: str) -> None:
    try:
        parse_w3c_datetime(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _answer_field(attribute: dict[str, Any]) -> fields.Field:
    code = attribute["code"]
    required = bool(attribute.get("required"))
    messages = {"required": f"{code} required: {attribute.get('description') or code}"}
    datatype = attribute["datatype"]
    if datatype in LIST_DATATYPES:
        keys = [v["key"] for v in attribute.get("values", [])]
        choice = fields.String(validate=validate.OneOf(keys))
        if datatype == "multivaluelist":
            return fields.List(choice, required=required, error_messages=messages)
        choice = fields.String(
            validate=validate.OneOf(keys), required=required, error_messages=messages
        )
        return choice
    checks: list[Any] = [validate.Length(max=DESCRIPTION_MAX)]
    checks.append(
        {"string": _one_line, "text": _printable, "number": _is_number, "datetime": _is_datetime}[
            datatype
        ]
    )
    return fields.String(validate=checks, required=required, error_messages=messages)


def answers_schema(attributes: list[dict[str, Any]]) -> Schema:
    """A schema that validates ``attribute[...]`` answers against a service definition.

    Only ``variable`` attributes take answers; codes the definition does not know are kept as
    sent (spec ambiguity §3.11) but still checked for control characters.
    """
    variable = [a for a in attributes if a.get("variable", True)]
    spec = {a["code"]: _answer_field(a) for a in variable}
    schema_class = Schema.from_dict(spec, name="AttributeAnswers")
    return schema_class(unknown=EXCLUDE)


def normalise_answers(
    attributes: list[dict[str, Any]], submitted: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Shape raw ``attribute[...]`` values for :func:`answers_schema` and spot misuse.

    Returns the data to load and a mapping of code to error messages found before loading
    (several values for a single-value attribute).
    """
    by_code = {a["code"]: a for a in attributes}
    data: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for code, raw_values in submitted.items():
        values = list(dict.fromkeys(v.strip() for v in raw_values if v.strip()))
        if not values:
            continue  # an empty answer to an optional attribute is no answer (§3.11)
        definition = by_code.get(code)
        if definition is not None and not definition.get("variable", True):
            continue  # informational attributes take no input (§3.12)
        if definition is not None and definition["datatype"] == "multivaluelist":
            data[code] = values
        elif len(values) > 1:
            if definition is None:
                data[code] = values
            else:
                errors[code] = [f"{code} takes a single value, got {len(values)}."]
        else:
            data[code] = values[0]
    return data, errors
