"""Accepting a new service request (``POST requests``)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from open311.catalogue import find_service
from open311.clock import utcnow
from open311.dispatch import enqueue
from open311.errors import ApiError, flatten_messages
from open311.extensions import db
from open311.jurisdictions import resolve_jurisdiction
from open311.keys import require_key
from open311.limits import check_service_area, require_served
from open311.models import ApiKey, Service, ServiceRequest, Token
from open311.replay import FORM_FIELD, body_digest, client_key, earlier
from schemas.inputs import (
    DESCRIPTION_MAX,
    PostRequestForm,
    answers_schema,
    normalise_answers,
    text_problem,
)

_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
MAX_ATTRIBUTES = 100

#: What residents are told when a service cannot hand back an id or a token at once.
NOTICES = {
    "batch": "Your request has been received. Use the token to look up its number.",
    "blackbox": "Your request has been received and passed to the responsible department.",
}


@dataclass(frozen=True)
class Receipt:
    """What POST answers: an id, a token, or neither, by service type."""

    service_type: str
    service_request_id: str | None
    token: str | None
    service_notice: str | None
    account_id: str | None


def split_form(form: MultiDict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Separate ``attribute[CODE]`` / ``attribute[CODE][]`` answers from plain fields.

    Both spellings of a code are merged (FixMyStreet repeats ``attribute[CODE]`` where the
    spec writes ``attribute[CODE][]``). A plain field sent twice is an error, not a guess.
    """
    plain: dict[str, str] = {}
    answers: dict[str, list[str]] = {}
    duplicated = []
    for key in form:
        values = form.getlist(key)
        match = _ATTRIBUTE_KEY.match(key)
        if match:
            code = match[1]
            if text_problem(code) or len(code) > 100:
                raise ApiError(400, f"{key!r}: not a valid attribute code.")
            answers.setdefault(code, []).extend(values)
        elif len(values) > 1 and len(set(values)) > 1:
            duplicated.append(key)
        else:
            plain[key] = values[0]
    if duplicated:
        raise ApiError(
            400, *(f"{k}: sent more than once with different values." for k in duplicated)
        )
    if len(answers) > MAX_ATTRIBUTES:
        raise ApiError(400, f"Too many attributes: at most {MAX_ATTRIBUTES} are accepted.")
    return plain, answers


def check_answers(service: Service, submitted: dict[str, list[str]]) -> dict[str, Any]:
    """Validate attribute answers against the service definition; returns what to store."""
    data, problems = normalise_answers(service.attributes, submitted)
    try:
        stored: dict[str, Any] = answers_schema(service.attributes).load(
            {k: v for k, v in data.items() if k not in problems}
        )
    except ValidationError as exc:
        for code, messages in exc.messages.items():  # type: ignore[union-attr]
            # A code already refused (sent twice) was left out, so "required" would mislead.
            problems.setdefault(code, messages)
        stored = {}
    known = {a["code"] for a in service.attributes}
    for code, value in data.items():
        if code in known:
            continue
        texts = value if isinstance(value, list) else [value]
        found = [p for p in map(text_problem, texts) if p]
        if any(len(t) > DESCRIPTION_MAX for t in texts):
            found.append(f"Longer than maximum length {DESCRIPTION_MAX}.")
        if found:
            problems[code] = found
        else:
            stored[code] = value  # kept as sent: unknown codes are not an error (§3.11)
    if problems:
        raise ApiError(
            400,
            *(
                _answer_line(code, line)
                for code, messages in problems.items()
                for line in flatten_messages(messages)
            ),
        )
    return stored


def _answer_line(code: str, line: str) -> str:
    # Messages either start with the code ("REQ1 required: ..."), with a list index, or bare.
    if line.startswith(code + " ") or line.startswith(code + ":"):
        return f"attribute[{code}]{line[len(code) :]}"
    if line.startswith("["):
        return f"attribute[{code}]{line}"
    return f"attribute[{code}]: {line}"


def submit(
    form: MultiDict[str, str],
    api_key_override: str | None = None,
    idempotency_key: str | None = None,
) -> Receipt:
    """Validate and store one request, committed before any back end is contacted.

    With an idempotency key (header or ``client_request_id``), a replay of the same body
    answers the original receipt and stores nothing.

    :raises ApiError: 403 for a bad key, 400/404 for bad input, 409 for a reused
        idempotency key; nothing is stored then.
    """
    replay_key = client_key(idempotency_key, form)
    plain, submitted = split_form(form)
    plain.pop(FORM_FIELD, None)
    key = require_key(api_key_override or plain.get("api_key"), "submit")
    digest = body_digest(form, api_key_override) if replay_key else None
    if replay_key and digest:
        row = earlier(key.id, replay_key, digest)
        if row is not None:
            return receipt_of(row)
    fields: dict[str, Any] = PostRequestForm().load(plain)
    located = "lat" in fields
    if located:
        jurisdiction = require_served(fields["long"], fields["lat"], fields.get("jurisdiction_id"))
    else:
        # Located by address only: nothing to check against the limits (as the spec allows).
        jurisdiction = resolve_jurisdiction(fields.get("jurisdiction_id"))
    service = find_service(jurisdiction, fields["service_code"], active_only=True)
    if located:
        problem = check_service_area(service, fields["long"], fields["lat"])
        if problem:
            raise ApiError(400, problem)
    answers = check_answers(service, submitted)
    try:
        return _store(service, key, fields, answers, replay_key, digest)
    except IntegrityError:
        # A simultaneous replay with the same key won the insert: answer from its row.
        if not replay_key or not digest:
            raise
        row = earlier(key.id, replay_key, digest)
        if row is None:
            raise
        return receipt_of(row)


def receipt_of(row: ServiceRequest) -> Receipt:
    """The POST answer for a stored request, exactly as it was first given."""
    token = row.token
    return Receipt(
        service_type=row.service.type,
        service_request_id=row.service_request_id,
        token=token.token if token else None,
        service_notice=NOTICES.get(row.service.type),
        account_id=row.account_id,
    )


def _store(
    service: Service,
    key: ApiKey,
    fields: dict[str, Any],
    answers: dict[str, Any],
    replay_key: str | None = None,
    digest: str | None = None,
) -> Receipt:
    now = utcnow()
    row = ServiceRequest(
        jurisdiction_pk=service.jurisdiction_pk,
        service=service,
        status="open",
        description=fields.get("description"),
        requested_datetime=now,
        updated_datetime=now,
        address=fields.get("address_string"),
        address_id=fields.get("address_id"),
        lat=fields.get("lat"),
        long=fields.get("long"),
        media_url=fields.get("media_url"),
        attributes=answers,
        channel=fields.get("channel"),
        email=fields.get("email"),
        phone=fields.get("phone"),
        first_name=fields.get("first_name"),
        last_name=fields.get("last_name"),
        device_id=fields.get("device_id"),
        account_id=fields.get("account_id"),
        api_key_pk=key.id,
        client_key=replay_key,
        body_digest=digest,
    )
    try:
        db.session.add(row)
        db.session.flush()
        # Our id is assigned at once, in the same transaction: the gateway is the record.
        row.service_request_id = str(row.id)
        token = secrets.token_urlsafe(16) if service.type == "batch" else None
        if token is not None:
            db.session.add(Token(token=token, request=row, created_at=now))
        # The delivery job is part of the same transaction: no accepted request without one.
        enqueue(row)
        # Built before the commit, which expires every loaded attribute.
        receipt = Receipt(
            service_type=service.type,
            service_request_id=row.service_request_id,
            token=token,
            service_notice=NOTICES.get(service.type),
            account_id=row.account_id,
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return receipt
