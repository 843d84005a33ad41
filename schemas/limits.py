"""Extensions about city limits: the location check and the jurisdiction list."""

from marshmallow import Schema, fields

from open311.limits import boundary_status


class JurisdictionSchema(Schema):
    """One jurisdiction: its id, name, and the box around its limits (when loaded)."""

    jurisdiction_id = fields.String()
    name = fields.String()
    # Function fields carry their JSON type in metadata for the OpenAPI document.
    boundary_loaded = fields.Function(
        lambda j: j.boundary is not None, metadata={"type": "boolean"}
    )
    bbox = fields.Function(
        lambda j: j.boundary.bbox if j.boundary is not None else None,
        allow_none=True,
        metadata={"type": "string", "description": "minLon,minLat,maxLon,maxLat"},
    )
    limits = fields.Function(lambda j: boundary_status(j), metadata={"type": "string"})


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
