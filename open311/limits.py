"""City limits: loading them, and deciding whether a point is served and by whom."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPolygon
from sqlalchemy import delete

from open311.clock import utcnow
from open311.errors import ApiError
from open311.extensions import db
from open311.jurisdictions import all_jurisdictions, resolve_jurisdiction
from open311.models import Boundary, Jurisdiction, Service
from open311.spatial import Nearest, backend
from open311.spatial.geojson import counts

_PLACE_PREFIXES = ("City of ", "Town of ", "Village of ")


@dataclass(frozen=True)
class Verdict:
    """Whether a point is served, by which jurisdiction, and if not, why."""

    lat: float
    long: float
    served: bool
    jurisdiction: Jurisdiction | None
    boundary_loaded: bool
    nearest: Nearest | None = None
    description: str = ""

    @property
    def jurisdiction_id(self) -> str | None:
        """The id of the jurisdiction the point was checked against."""
        return self.jurisdiction.jurisdiction_id if self.jurisdiction else None

    @property
    def jurisdiction_name(self) -> str | None:
        """Its name."""
        return self.jurisdiction.name if self.jurisdiction else None

    @property
    def distance_m(self) -> int | None:
        """Metres to the nearest limit, when outside."""
        return round(self.nearest.distance_m) if self.nearest else None

    @property
    def nearest_lat(self) -> float | None:
        """Latitude of the nearest point of the limits, when outside."""
        return round(self.nearest.lat, 7) if self.nearest else None

    @property
    def nearest_long(self) -> float | None:
        """Longitude of the nearest point of the limits, when outside."""
        return round(self.nearest.long, 7) if self.nearest else None


def place_name(jurisdiction: Jurisdiction) -> str:
    """'Aurora, Illinois' for 'City of Aurora, Illinois': reads well after 'city limits of'."""
    for prefix in _PLACE_PREFIXES:
        if jurisdiction.name.startswith(prefix):
            return jurisdiction.name[len(prefix) :]
    return jurisdiction.name


def format_distance(metres: float) -> str:
    """Round like a person would say it: 8 m, 850 m, 12.3 km."""
    if metres < 10:
        return f"{max(1, round(metres))} m"
    if metres < 1000:
        return f"{round(metres, -1):.0f} m"
    return f"{metres / 1000:.1f} km"


def import_boundary(jurisdiction: Jurisdiction, limits: MultiPolygon, source: str) -> Boundary:
    """Replace a jurisdiction's limits in one transaction (old pieces go with the old row)."""
    parts, holes, vertices = counts(limits)
    min_long, min_lat, max_long, max_lat = limits.bounds
    try:
        db.session.execute(delete(Boundary).where(Boundary.jurisdiction_pk == jurisdiction.id))
        boundary = Boundary(
            jurisdiction=jurisdiction,
            geom=limits,
            source=source,
            checksum=hashlib.sha256(shapely.to_wkb(limits)).hexdigest(),
            loaded_at=utcnow(),
            parts=parts,
            holes=holes,
            vertices=vertices,
            min_long=min_long,
            min_lat=min_lat,
            max_long=max_long,
            max_lat=max_lat,
        )
        db.session.add(boundary)
        db.session.flush()
        backend().after_boundary_load(boundary)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return boundary


def _covers(jurisdiction: Jurisdiction, long: float, lat: float) -> bool:
    return jurisdiction.boundary is not None and backend().boundary_covers(
        jurisdiction.boundary, long, lat
    )


def _outside(
    jurisdiction: Jurisdiction, long: float, lat: float, others: list[Jurisdiction]
) -> Verdict:
    assert jurisdiction.boundary is not None
    nearest = backend().boundary_nearest(jurisdiction.boundary, long, lat)
    host = next((j for j in others if j is not jurisdiction and _covers(j, long, lat)), None)
    description = (
        f"The location is {format_distance(nearest.distance_m)} outside the city limits of "
        f"{place_name(jurisdiction)}."
    )
    if host is not None:
        description += (
            f" It is within the limits of {host.name}: send it with "
            f"jurisdiction_id={host.jurisdiction_id}."
        )
    return Verdict(lat, long, False, jurisdiction, True, nearest, description)


def check_point(long: float, lat: float, jurisdiction_id: str | None) -> Verdict:
    """Decide whether a point is served.

    With several jurisdictions and none named, the one whose limits cover the point serves
    it. A jurisdiction without loaded limits serves every point.

    :raises ApiError: 404 for an unknown jurisdiction, 400 when none can be chosen.
    """
    known = all_jurisdictions()
    if jurisdiction_id is None and len(known) > 1:
        covering = [j for j in known if _covers(j, long, lat)]
        if len(covering) == 1:
            jurisdiction = covering[0]
        elif covering:
            names = ", ".join(j.jurisdiction_id for j in covering)
            raise ApiError(400, f"jurisdiction_id is required: the location is within {names}.")
        elif any(j.boundary is None for j in known):
            # A jurisdiction without limits takes any point, so the point alone cannot decide.
            raise ApiError(
                400, "jurisdiction_id is required: not every jurisdiction has limits loaded."
            )
        else:
            closest = min(
                known, key=lambda j: backend().boundary_nearest(j.boundary, long, lat).distance_m
            )
            return _outside(closest, long, lat, known)
    else:
        jurisdiction = resolve_jurisdiction(jurisdiction_id)
        if jurisdiction is None:
            return Verdict(lat, long, True, None, False, description="No catalogue is loaded.")
    if jurisdiction.boundary is None:
        return Verdict(
            lat,
            long,
            True,
            jurisdiction,
            False,
            description=(
                f"No city limits are loaded for {jurisdiction.name}: every location is accepted."
            ),
        )
    if _covers(jurisdiction, long, lat):
        return Verdict(
            lat,
            long,
            True,
            jurisdiction,
            True,
            description=f"The location is within the city limits of {place_name(jurisdiction)}.",
        )
    return _outside(jurisdiction, long, lat, known)


def check_service_area(service: Service, long: float, lat: float) -> str | None:
    """Why a point is outside a service's own area, or ``None`` when it is not."""
    if service.area_name is None or backend().area_covers(service, long, lat):
        return None
    nearest = backend().area_nearest(service, long, lat)
    return (
        f"{service.service_name} is offered only in {service.area_name}; the location is "
        f"{format_distance(nearest.distance_m)} outside it."
    )


def require_served(long: float, lat: float, jurisdiction_id: str | None) -> Jurisdiction | None:
    """The jurisdiction serving a point, or a 400 that says why it is not served."""
    verdict = check_point(long, lat, jurisdiction_id)
    if not verdict.served:
        raise ApiError(400, verdict.description)
    return verdict.jurisdiction


def boundary_status(jurisdiction: Jurisdiction) -> str:
    """One line on a jurisdiction's limits, for the CLI and discovery."""
    boundary = jurisdiction.boundary
    if boundary is None:
        return "no city limits loaded: every location is accepted"
    return (
        f"limits loaded {boundary.loaded_at:%Y-%m-%d %H:%M}Z from {boundary.source}: "
        f"{boundary.parts} parts, {boundary.holes} holes, {boundary.vertices:,} vertices"
    )
