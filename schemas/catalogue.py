"""The catalogue file loaded by ``open311 services import``.

It uses exactly the GeoReport v2 JSON field names: a service entry is a service-list object
(without ``metadata``, which is derived) plus an optional ``jurisdiction_id`` and an
``attributes`` list of service-definition attribute objects. Routing is our addition: an
optional ``backends`` map (name -> adapter and settings) and a ``backend`` name on a
jurisdiction (the default of its services) or on a service.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from open311.statuses import EXTENDED
from schemas.services import DATATYPES, LIST_DATATYPES, SERVICE_TYPES

_code = validate.Regexp(
    r"^[^\s/?#][^/?#]*$", error="Must be non-empty, without / ? # and not start with a space."
)


class StrictString(fields.String):
    """A string that refuses numbers: YAML would silently turn ``001`` into ``1``."""

    default_error_messages = {"invalid": "Must be a string; quote it in the file."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class ValueEntry(Schema):
    """One choice of a list attribute."""

    class Meta:
        unknown = RAISE

    key = StrictString(required=True, validate=validate.Length(min=1, max=200))
    name = StrictString(required=True, validate=validate.Length(min=1, max=200))


class AttributeEntry(Schema):
    """One attribute of a service definition."""

    class Meta:
        unknown = RAISE

    variable = fields.Boolean(load_default=True)
    code = StrictString(required=True, validate=[validate.Length(min=1, max=100), _code])
    datatype = fields.String(required=True, validate=validate.OneOf(DATATYPES))
    required = fields.Boolean(load_default=False)
    datatype_description = StrictString(load_default=None, allow_none=True)
    order = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    description = StrictString(required=True)
    values = fields.List(fields.Nested(ValueEntry))

    @validates_schema
    def _values(self, data: dict[str, Any], **kwargs: Any) -> None:
        values = data.get("values")
        if data["datatype"] in LIST_DATATYPES:
            if not values:
                raise ValidationError("A list attribute needs at least one value.", "values")
            keys = [v["key"] for v in values]
            if len(set(keys)) != len(keys):
                raise ValidationError("Value keys must be unique.", "values")
        elif values:
            raise ValidationError(f"A {data['datatype']} attribute takes no values.", "values")
        if not data["variable"] and data["required"]:
            raise ValidationError(
                "An informational (variable: false) attribute cannot be required.", "required"
            )


_backend_name = validate.Regexp(
    r"^[a-z][a-z0-9_-]{0,99}$", error="Must be lower-case letters, digits, - or _ (at most 100)."
)


class BackendEntry(Schema):
    """A back end: which adapter delivers to it, and that adapter's settings.

    The settings are checked against the adapter's own schema when the file is imported.
    """

    class Meta:
        unknown = RAISE

    adapter = StrictString(required=True, validate=_backend_name)
    settings = fields.Dict(keys=fields.String(), load_default=dict)
    #: The back end's own statuses -> mySociety's extended set (open311/statuses.py has the
    #: adapters' defaults); a status missing here is stored raw and reported, never guessed.
    statuses = fields.Dict(
        keys=StrictString(validate=validate.Length(min=1, max=200)),
        values=StrictString(validate=validate.OneOf(sorted(EXTENDED))),
        load_default=dict,
    )


class AreaEntry(Schema):
    """A service's own area: a name for messages and a GeoJSON Polygon or MultiPolygon."""

    class Meta:
        unknown = RAISE

    name = StrictString(required=True, validate=validate.Length(min=1, max=200))
    geometry = fields.Dict(required=True)


class ServiceEntry(Schema):
    """One service of the catalogue."""

    class Meta:
        unknown = RAISE

    jurisdiction_id = StrictString()
    #: The back end that handles the service; else the jurisdiction's, else ``local``.
    backend = StrictString(validate=_backend_name)
    service_code = StrictString(required=True, validate=[validate.Length(min=1, max=200), _code])
    service_name = StrictString(required=True, validate=validate.Length(min=1, max=200))
    description = StrictString(load_default=None, allow_none=True)
    type = fields.String(load_default="realtime", validate=validate.OneOf(SERVICE_TYPES))
    keywords = StrictString(load_default=None, allow_none=True)
    group = StrictString(load_default=None, allow_none=True)
    attributes = fields.List(fields.Nested(AttributeEntry), load_default=list)
    #: Extension: where the service is offered, when that is less than the whole city.
    area = fields.Nested(AreaEntry, load_default=None)

    @validates_schema
    def _unique_attributes(self, data: dict[str, Any], **kwargs: Any) -> None:
        codes = [a["code"] for a in data["attributes"]]
        orders = [a["order"] for a in data["attributes"]]
        if len(set(codes)) != len(codes):
            raise ValidationError("Attribute codes must be unique within a service.", "attributes")
        if len(set(orders)) != len(orders):
            raise ValidationError("Attribute orders must be unique within a service.", "attributes")


class JurisdictionEntry(Schema):
    """One jurisdiction of the catalogue."""

    class Meta:
        unknown = RAISE

    jurisdiction_id = StrictString(required=True, validate=[validate.Length(min=1, max=200), _code])
    name = StrictString(required=True, validate=validate.Length(min=1, max=200))
    #: The default back end of the jurisdiction's services.
    backend = StrictString(validate=_backend_name)


class CatalogueFile(Schema):
    """The whole catalogue file."""

    class Meta:
        unknown = RAISE

    jurisdictions = fields.List(
        fields.Nested(JurisdictionEntry), required=True, validate=validate.Length(min=1)
    )
    services = fields.List(fields.Nested(ServiceEntry), required=True)
    backends = fields.Dict(
        keys=StrictString(validate=_backend_name),
        values=fields.Nested(BackendEntry),
        load_default=dict,
    )
