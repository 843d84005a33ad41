"""The GeoReport error list."""

from marshmallow import Schema, fields


class ErrorSchema(Schema):
    """One ``<error>``: ``code`` is the HTTP status, ``description`` is for people."""

    code = fields.Integer(required=True)
    description = fields.String(required=True)
