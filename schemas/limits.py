"""Extensions about city limits: the location check and the jurisdiction list."""

from marshmallow import Schema, fields

from open311.limits import boundary_status


class JurisdictionSchema(Schema):
    """One jurisdiction: its id, name, and the box around its limits (when loaded)."""

    jurisdiction_id = fields.String()
    name = fields.String()
    boundary_loaded = fields.Function(lambda j: j.boundary is not None)
    bbox = fields.Function(lambda j: j.boundary.bbox if j.boundary is not None else None)
    limits = fields.Function(lambda j: boundary_status(j))


class LocationCheckSchema(Schema):
    """The answer of ``GET locations/validate``."""

    lat = fields.Float()
    long = fields.Float()
    served = fields.Boolean()
    jurisdiction_id = fields.String(allow_none=True)
    jurisdiction_name = fields.String(allow_none=True)
    boundary_loaded = fields.Boolean()
    service_code = fields.String(allow_none=True)
    distance_m = fields.Integer(allow_none=True)
    nearest_lat = fields.Float(allow_none=True)
    nearest_long = fields.Float(allow_none=True)
    description = fields.String()
