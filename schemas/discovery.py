"""The Service Discovery document."""

from marshmallow import Schema, fields

from schemas.fields import W3CDateTime
from schemas.limits import JurisdictionSchema

GEOREPORT_V2 = "http://wiki.open311.org/GeoReport_v2"


class EndpointSchema(Schema):
    """One endpoint of the discovery document."""

    specification = fields.String()
    url = fields.String()
    changeset = W3CDateTime()
    type = fields.String()
    formats = fields.List(fields.String())


class DiscoverySchema(Schema):
    """The discovery document: an object in JSON, ``<discovery>`` in XML."""

    changeset = W3CDateTime()
    contact = fields.String()
    key_service = fields.String()
    endpoints = fields.List(fields.Nested(EndpointSchema))
    #: Extension: which jurisdictions this endpoint serves and whether their limits are loaded.
    jurisdictions = fields.List(fields.Nested(JurisdictionSchema))
