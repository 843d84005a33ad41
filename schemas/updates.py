"""mySociety's service request updates (georeport-v2.md §2.9 a and b)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_dump, pre_load, validate

from open311.statuses import EXTENDED
from schemas.fields import W3CDateTime
from schemas.inputs import DESCRIPTION_MAX, Text, blank_to_missing


class RequestUpdateSchema(Schema):
    """One ``request_update`` as published: no one's contact details, ever."""

    update_id = fields.String()
    service_request_id = fields.Function(
        lambda u: u.request.service_request_id, metadata={"type": "string"}
    )
    status = fields.String()
    updated_datetime = W3CDateTime()
    # Required by the extension, and may be empty.
    description = fields.Function(lambda u: u.description or "", metadata={"type": "string"})
    media_url = fields.Function(lambda u: u.media_url or "", metadata={"type": "string"})


class HistoryEntrySchema(RequestUpdateSchema):
    """A change in ``extended_attributes.updates``: the published update plus what its source
    said of the agency and the expected date (left out when it said nothing)."""

    agency_responsible = fields.String()
    expected_datetime = W3CDateTime()

    @post_dump
    def _drop_unsaid(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None}


class UpdatesQuery(Schema):
    """Query string of ``GET servicerequestupdates``."""

    class Meta:
        unknown = EXCLUDE

    jurisdiction_id = Text()
    api_key = fields.String(load_only=True)
    start_date = W3CDateTime()
    end_date = W3CDateTime()

    @pre_load
    def _drop_blanks(self, data: Any, **kwargs: Any) -> Any:
        return blank_to_missing(data)


class PostUpdateForm(Schema):
    """``POST servicerequestupdates``. FixMyStreet also sends who wrote the update (name,
    e-mail, phone, account): accepted so its POSTs work, and deliberately not stored."""

    class Meta:
        unknown = EXCLUDE

    jurisdiction_id = Text()
    api_key = Text()
    service_request_id = Text(required=True)
    update_id = Text(required=True)
    # Upper case on the wire (FixMyStreet); matched case-insensitively, stored lower case.
    status = fields.String(required=True, validate=validate.OneOf(sorted(EXTENDED)))
    updated_datetime = W3CDateTime(required=True)
    description = Text(DESCRIPTION_MAX, one_line=False, load_default="")
    media_url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2000))

    @pre_load
    def _normalise(self, data: Any, **kwargs: Any) -> Any:
        data = {k: v for k, v in dict(data).items() if k == "description" or v.strip()}
        if isinstance(data.get("status"), str):
            data["status"] = data["status"].strip().lower()
        return data
