"""``GET servicerequestupdates`` and ``POST servicerequestupdates`` (mySociety's extension)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, request
from sqlalchemy import select

from open311.api import FMT, bp, given_key, load_query
from open311.clock import utcnow
from open311.config import Settings
from open311.errors import ApiError
from open311.extensions import db
from open311.feed import get_request
from open311.formats import render
from open311.jurisdictions import resolve_jurisdiction
from open311.keys import require_key
from open311.models import RequestUpdate, ServiceRequest
from open311.ownership import require_owner
from open311.search import date_range
from open311.updates import DuplicateUpdate, NewUpdate, exists, record
from schemas.updates import PostUpdateForm, RequestUpdateSchema, UpdatesQuery

_UPDATES = RequestUpdateSchema(many=True)
_RECEIPT = RequestUpdateSchema(many=True, only=("update_id",))
#: How far ahead of our clock a client's ``updated_datetime`` may be: a later one would rank
#: above every real change and freeze the request's status.
CLOCK_SKEW = timedelta(minutes=5)


@bp.get(f"/servicerequestupdates.{FMT}")
def update_list(fmt: str) -> Response:
    """Updates whose ``updated_datetime`` lies in [start_date, end_date], oldest first.

    Without dates, the default window of ``GET requests``; updates whose vendor status no
    table maps are history for staff, not output.
    """
    args = load_query(UpdatesQuery())
    jurisdiction = resolve_jurisdiction(args.get("jurisdiction_id"))
    settings: Settings = current_app.extensions["open311"]["settings"]
    start, end = date_range(args.get("start_date"), args.get("end_date"), settings.window_days)
    query = (
        select(RequestUpdate)
        .join(RequestUpdate.request)
        .where(
            RequestUpdate.status.is_not(None),
            RequestUpdate.updated_datetime >= start,
            RequestUpdate.updated_datetime <= end,
        )
        .order_by(RequestUpdate.updated_datetime, RequestUpdate.id)
        .limit(settings.max_requests)
    )
    if jurisdiction is not None:
        query = query.where(ServiceRequest.jurisdiction_pk == jurisdiction.id)
    return render(fmt, "service_request_updates", _UPDATES.dump(db.session.scalars(query)))


@bp.post(f"/servicerequestupdates.{FMT}")
def update_create(fmt: str) -> Response:
    """Record a client's update; a second POST with the same ``update_id`` is a 400."""
    key = require_key(given_key(), "update")
    form = PostUpdateForm().load(request.form)
    jurisdiction = resolve_jurisdiction(form.get("jurisdiction_id"))
    row = get_request(jurisdiction, form["service_request_id"])
    require_owner(key, row)
    if form["updated_datetime"] > utcnow() + CLOCK_SKEW:
        raise ApiError(400, "updated_datetime is in the future.")
    source = f"key:{key.id}"
    if exists(source, form["update_id"]):
        raise ApiError(400, f"Bad request: update_id {form['update_id']!r} already exists.")
    try:
        update = record(
            row,
            NewUpdate(
                status=form["status"],
                updated=form["updated_datetime"],
                source=source,
                source_ref=form["update_id"],
                description=form["description"],
                media_url=form.get("media_url"),
            ),
        )
    except DuplicateUpdate:
        raise ApiError(
            400, f"Bad request: update_id {form['update_id']!r} already exists."
        ) from None
    return render(fmt, "service_request_updates", _RECEIPT.dump([update]))
