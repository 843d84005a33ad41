"""Which jurisdiction a call is about.

The mode follows the catalogue: with one jurisdiction loaded, ``jurisdiction_id`` is
optional and must name it when given; with several, every call must name one (spec §1.4,
resolution §3.21).
"""

from __future__ import annotations

from sqlalchemy import select

from open311.errors import ApiError
from open311.extensions import db
from open311.models import Jurisdiction


def all_jurisdictions() -> list[Jurisdiction]:
    """Every configured jurisdiction, in catalogue order."""
    return list(db.session.scalars(select(Jurisdiction).order_by(Jurisdiction.position)))


def resolve_jurisdiction(jurisdiction_id: str | None) -> Jurisdiction | None:
    """The jurisdiction a call addresses; ``None`` only when no catalogue is loaded.

    :raises ApiError: 400 when one must be named and was not, 404 when it is unknown.
    """
    known = all_jurisdictions()
    if jurisdiction_id is not None:
        match = next((j for j in known if j.jurisdiction_id == jurisdiction_id), None)
        if match is None:
            raise ApiError(404, f"Unknown jurisdiction_id {jurisdiction_id!r}.")
        return match
    if len(known) > 1:
        names = ", ".join(j.jurisdiction_id for j in known)
        raise ApiError(400, f"jurisdiction_id is required: this endpoint serves several ({names}).")
    return known[0] if known else None
