"""``GET tokens/{token}``: the id behind a batch service's token."""

from __future__ import annotations

from flask import Response
from sqlalchemy import select

from open311.api import FMT, bp, jurisdiction_from_query
from open311.errors import ApiError
from open311.extensions import db
from open311.formats import render
from open311.models import ServiceRequest, Token
from schemas.requests import TokenSchema

_PENDING = TokenSchema(many=True, only=("token",))
_RESOLVED = TokenSchema(many=True)


@bp.get(f"/tokens/<path:token>.{FMT}")
def token_lookup(token: str, fmt: str) -> Response:
    """The token, plus the request id once the back end has accepted the request (§3.16)."""
    jurisdiction = jurisdiction_from_query()
    query = select(Token).where(Token.token == token)
    if jurisdiction is not None:
        query = query.join(Token.request).where(ServiceRequest.jurisdiction_pk == jurisdiction.id)
    row = db.session.scalar(query)
    if row is None:
        raise ApiError(404, f"Unknown token {token!r}.")
    schema = _RESOLVED if row.service_request_id else _PENDING
    return render(fmt, "service_requests", schema.dump([row]))
