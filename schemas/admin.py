"""The admin key's documents: API keys and delivery jobs, and the forms that change them.

Nothing here carries a key's secret or hash (the secret is added once, to the answer that
creates the key) or a request's personal fields: a job's ``last_error`` is stored redacted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from open311.clock import utcnow
from open311.keys import KEY_STATES, NAME_MAX, key_state, parse_duration, parse_when
from open311.models.dispatch import PENDING, STATES
from open311.models.keys import ROLES
from schemas.fields import W3CDateTime, format_w3c_datetime
from schemas.inputs import CommaList, StrictInput, Text

#: Most jobs one page of ``GET admin/deliveries`` holds, and how many without ``page_size``.
DELIVERIES_MAX = 1000
DELIVERIES_DEFAULT = 100
#: ``state`` filter values: the job states, and ``pending`` for queued and retrying.
STATE_FILTERS = (*STATES, "pending")


class When(fields.String):
    """A moment as the CLI's ``--expires``/``--at`` take it (:func:`open311.keys.parse_when`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 100:
            raise ValidationError("Is too long for a moment.")
        try:
            return parse_when(text)
        except ValueError as exc:
            raise ValidationError(f"{exc}.") from None


class Span(fields.String):
    """A span from now as the CLI's ``--in`` takes it: ``90m``, ``12h``, ``30d`` or ``8w``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        try:
            return utcnow() + parse_duration(text[:100])
        except ValueError as exc:
            raise ValidationError(f"{exc}.") from None


class KeySchema(Schema):
    """One API key as ``open311 keys list`` shows it; ``secret`` only when it is created."""

    prefix = fields.String()
    name = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    vendor = fields.String(allow_none=True, metadata={"description": "The vendor's back end."})
    state = fields.Function(key_state, metadata={"type": "string", "enum": list(KEY_STATES)})
    created_datetime = W3CDateTime(attribute="created_at")
    expires_datetime = W3CDateTime(attribute="expires_at", allow_none=True)
    last_used_datetime = W3CDateTime(attribute="last_used_at", allow_none=True)
    revoked_datetime = W3CDateTime(attribute="revoked_at", allow_none=True)
    secret = fields.String(metadata={"description": "The key itself, shown this once only."})


class DeliverySchema(Schema):
    """One delivery job as ``open311 dispatch list`` shows it: no personal field, ever."""

    job_id = fields.Function(lambda job: str(job.id), metadata={"type": "string"})
    service_request_id = fields.Function(
        lambda job: job.request.service_request_id, metadata={"type": "string"}
    )
    backend = fields.String()
    adapter = fields.String()
    state = fields.String(metadata={"enum": list(STATES)})
    attempts = fields.Integer()
    #: The back end's words, redacted before they were stored (:mod:`open311.redact`).
    last_error = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    created_datetime = W3CDateTime(attribute="created_at")
    updated_datetime = W3CDateTime(attribute="updated_at")
    next_attempt_datetime = fields.Function(
        lambda job: format_w3c_datetime(job.next_attempt_at) if job.state in PENDING else None,
        allow_none=True,
        metadata={"type": "string", "format": "date-time"},
    )


class _AdminInput(StrictInput):
    api_key = Text()


class AdminQuery(_AdminInput):
    """Query string of ``GET admin/keys``: the admin key only."""


class DeliveriesQuery(_AdminInput):
    """Query string of ``GET admin/deliveries``."""

    state = CommaList(fields.String(validate=validate.OneOf(STATE_FILTERS)))
    page = fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(validate=validate.Range(min=1, max=DELIVERIES_MAX))

    @pre_load
    def _split_states(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data.get("state"), str):
            states = [part.strip() for part in data["state"].split(",") if part.strip()]
            if states:
                data["state"] = states
            else:
                del data["state"]
        return data


class KeyForm(_AdminInput):
    """The form of ``POST admin/keys``: the fields of ``open311 keys create``."""

    name = Text(NAME_MAX, required=True)
    role = fields.String(validate=validate.OneOf(ROLES), load_default="app")
    #: The back end of a vendor key (required for one).
    vendor = Text(100)
    expires = When(
        metadata={
            "description": "A W3C datetime with a zone, a date (midnight UTC) or a span from "
            "now such as 90m, 12h, 30d or 8w."
        }
    )

    @validates_schema
    def _vendor_needs_backend(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("role") == "vendor" and not data.get("vendor"):
            raise ValidationError("A vendor key needs vendor: the name of its back end.")


class ExpireForm(_AdminInput):
    """The form of ``POST admin/keys/{prefix}/expire``: ``at`` a moment or ``in`` a span."""

    at = When(metadata={"description": "A W3C datetime with a zone, or a date; past: at once."})
    in_ = Span(data_key="in", metadata={"description": "A span from now: 90m, 12h, 30d or 8w."})

    @validates_schema
    def _one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("at" in data) == ("in_" in data):
            raise ValidationError("Give exactly one of at (a moment) or in (a span such as 30d).")


class AdminForm(_AdminInput):
    """The form of the admin POSTs that take nothing but the key (revoke, retry)."""
