"""Apps' subscriptions (``subscriptions.json``), as they are sent and answered."""

from marshmallow import Schema, fields, validate

from schemas.inputs import Text

#: Longest callback URL a subscription may have.
CALLBACK_MAX = 2000


class SubscriptionForm(Schema):
    """The form of ``POST subscriptions.json``: a callback and either one request or a filter.

    The handler (:mod:`open311.api.subscriptions`) reads the form field by field; this schema
    states the same rules for the OpenAPI document.
    """

    callback_url = fields.String(required=True, validate=validate.Length(min=1, max=CALLBACK_MAX))
    service_request_id = Text()
    service_code = fields.List(fields.String())
    bbox = fields.String(metadata={"description": "min_long,min_lat,max_long,max_lat"})
    jurisdiction_id = Text()
    api_key = fields.String()


class SubscriptionSchema(Schema):
    """One subscription as its app sees it; ``secret`` only in the answer that creates it."""

    subscription_id = fields.String()
    callback_url = fields.String()
    service_request_id = fields.String(allow_none=True)
    service_code = fields.List(fields.String(), allow_none=True)
    bbox = fields.List(fields.Float(), allow_none=True)
    secret = fields.String()
