"""The ``email`` adapter: a department that only reads a mailbox."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from adapters.base import Adapter, Delivery, Outbound
from adapters.email import client, mapping


class EmailSettings(Schema):
    """The SMTP server, the sender and the department's addresses."""

    class Meta:
        unknown = RAISE

    host = fields.String(required=True, validate=validate.Length(min=1))
    port = fields.Integer(load_default=25, validate=validate.Range(min=1, max=65535))
    starttls = fields.Boolean(load_default=False)
    username = fields.String(load_default=None)
    password = fields.String(load_default=None)
    timeout = fields.Float(load_default=30.0, validate=validate.Range(min=0.01, max=600))
    sender = fields.Email(required=True)
    to = fields.List(fields.Email(), required=True, validate=validate.Length(min=1))
    domain = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9.-]+$"))
    tag = fields.String(load_default="Aurora 311")

    @validates_schema
    def _login(self, data: dict[str, Any], **kwargs: Any) -> None:
        if bool(data.get("username")) != bool(data.get("password")):
            raise ValidationError("username and password go together", "password")


class EmailAdapter(Adapter):
    """Sends each request to the department's mailbox; the reference is its Message-ID."""

    name = "email"
    settings_schema: ClassVar = EmailSettings

    def create(self, request: Outbound) -> Delivery:
        """Send the message (again, with the same ``Message-ID``, on a retry).

        SMTP has no look-up: a resend after an unknown outcome may reach the mailbox twice,
        and the fixed ``Message-ID`` is what lets the department see it is the same one.
        """
        message = mapping.build(request, self.settings)
        client.send(message, self.settings)
        return Delivery(
            reference=message["Message-ID"],
            service_notice="Your request has been passed to the responsible department by e-mail.",
        )
