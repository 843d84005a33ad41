"""The service list and service definitions."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_dump, pre_dump

LIST_DATATYPES = frozenset({"singlevaluelist", "multivaluelist"})
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
SERVICE_TYPES = ("realtime", "batch", "blackbox")


class ServiceSchema(Schema):
    """One ``<service>`` of ``GET services``."""

    service_code = fields.String()
    service_name = fields.String()
    description = fields.String(allow_none=True)
    metadata = fields.Boolean(attribute="metadata_flag")
    type = fields.String()
    keywords = fields.String(allow_none=True)
    group = fields.String(allow_none=True)


class ValueSchema(Schema):
    """One choice of a list attribute; ``key`` is what clients submit."""

    key = fields.String()
    name = fields.String()


class AttributeSchema(Schema):
    """One attribute of a service definition."""

    variable = fields.Boolean()
    code = fields.String()
    datatype = fields.String()
    required = fields.Boolean()
    datatype_description = fields.String(allow_none=True)
    order = fields.Integer()
    description = fields.String(allow_none=True)
    values = fields.List(fields.Nested(ValueSchema))

    @pre_dump
    def _values_key(self, attribute: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # A dict without "values" would otherwise dump its own .values method.
        return {**attribute, "values": attribute.get("values") or []}

    @post_dump
    def _values_only_for_lists(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("datatype") not in LIST_DATATYPES:
            data.pop("values", None)
        return data


class ServiceDefinitionSchema(Schema):
    """``GET services/{code}``: an object in JSON, ``<service_definition>`` in XML."""

    service_code = fields.String()
    attributes = fields.List(fields.Nested(AttributeSchema))
