"""Service requests as published, and the receipts of POST and token look-ups."""

from typing import Any

from marshmallow import Schema, fields

from schemas.fields import W3CDateTime
from schemas.updates import RequestUpdateSchema


class ServiceRequestSchema(Schema):
    """The 17 public fields of a request, in the spec's order.

    Contact details of the reporter are deliberately absent: this schema is the only way a
    request leaves the gateway publicly.
    """

    service_request_id = fields.String()
    status = fields.String()
    status_notes = fields.String(allow_none=True)
    service_name = fields.String()
    service_code = fields.String()
    description = fields.String(allow_none=True)
    agency_responsible = fields.String(allow_none=True)
    service_notice = fields.String(allow_none=True)
    requested_datetime = W3CDateTime()
    updated_datetime = W3CDateTime()
    expected_datetime = W3CDateTime(allow_none=True)
    address = fields.String(allow_none=True)
    address_id = fields.String(allow_none=True)
    zipcode = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    media_url = fields.String(allow_none=True)


class AnswerSchema(Schema):
    """One attribute answer of a request: the code and its values, always a list."""

    code = fields.String()
    values = fields.List(fields.String())


class ExtendedAttributesSchema(Schema):
    """``extended_attributes`` of ``extensions=true`` (built in :mod:`open311.publish`)."""

    channel = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    attributes = fields.List(fields.Nested(AnswerSchema))
    duplicate = fields.Boolean()
    parent_service_request_id = fields.String(allow_none=True)
    history_length = fields.Integer()
    #: Only on ``GET requests/{id}``: the request's history, oldest first.
    updates = fields.List(fields.Nested(RequestUpdateSchema))


class DeliveryStateSchema(Schema):
    """``dispatch`` on ``GET requests/{id}?extensions=true`` with an admin key only."""

    state = fields.String()
    backend = fields.String()
    adapter = fields.String()
    attempts = fields.Integer()
    reference = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_datetime = W3CDateTime()


class ListedRequestSchema(ServiceRequestSchema):
    """A request as ``GET requests`` shows it: the public fields, plus what the caller asked
    for (``extended_attributes``) or may see (``dispatch`` for admin keys; the reporter's
    contact fields for a vendor key, on its own requests only). For the OpenAPI document;
    the rows themselves are built in :mod:`open311.publish`."""

    extended_attributes = fields.Nested(ExtendedAttributesSchema)
    dispatch = fields.Nested(DeliveryStateSchema)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


def attribute_answers(
    answers: dict[str, Any], definition: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A request's attribute answers as a list of ``{code, values}``.

    XML needs element names it can trust, and a list keeps single and multiple answers
    alike. They come in the definition's order, then codes it does not know by name:
    PostgreSQL's JSONB does not keep the order they were stored in.
    """
    position = {a["code"]: i for i, a in enumerate(definition)}
    codes = sorted(answers, key=lambda code: (position.get(code, len(position)), code))
    return [
        {"code": code, "values": [str(v) for v in (a if isinstance(a, list) else [a])]}
        for code, a in ((code, answers[code]) for code in codes)
    ]


class ReceiptSchema(Schema):
    """The answer to ``POST requests``; which fields appear depends on the service type."""

    service_request_id = fields.String()
    token = fields.String()
    service_notice = fields.String(allow_none=True)
    account_id = fields.String(allow_none=True)


#: Fields of the POST answer by service type: an id, a token, or neither (spec §1.13).
RECEIPT_FIELDS = {
    "realtime": ("service_request_id", "service_notice", "account_id"),
    "batch": ("token", "service_notice", "account_id"),
    "blackbox": ("service_notice", "account_id"),
}


class TokenSchema(Schema):
    """``GET tokens/{token}``: the id appears only once the back end has accepted it."""

    service_request_id = fields.String()
    token = fields.String()
