"""Extensions: ``GET locations/validate``, ``GET jurisdictions`` and their GeoJSON limits."""

from __future__ import annotations

from dataclasses import replace

import orjson
from flask import Response
from sqlalchemy import select

from open311.api import FMT, bp, load_query
from open311.catalogue import find_service
from open311.errors import ApiError
from open311.extensions import db
from open311.formats import render
from open311.jurisdictions import all_jurisdictions
from open311.limits import check_point, check_service_area
from open311.models import Boundary, Jurisdiction
from open311.spatial.geojson import as_geojson
from schemas.inputs import JurisdictionQuery, LocationQuery
from schemas.limits import JurisdictionSchema, LocationCheckSchema

_CHECK = LocationCheckSchema()
_JURISDICTIONS = JurisdictionSchema(many=True)


@bp.get(f"/locations/validate.{FMT}")
def validate_location(fmt: str) -> Response:
    """Whether a point is served (by which jurisdiction, and for a service if named)."""
    args = load_query(LocationQuery())
    verdict = check_point(args["long"], args["lat"], args.get("jurisdiction_id"))
    document = _CHECK.dump(verdict)
    code = args.get("service_code")
    document["service_code"] = code
    if code is not None:
        service = find_service(verdict.jurisdiction, code, active_only=True)
        problem = check_service_area(service, args["long"], args["lat"]) if verdict.served else None
        if problem is not None:
            document.update(_CHECK.dump(replace(verdict, served=False, description=problem)))
            document["service_code"] = code
    return render(fmt, "location", document)


@bp.get(f"/jurisdictions.{FMT}")
def jurisdiction_list(fmt: str) -> Response:
    """Every jurisdiction with the box around its limits."""
    load_query(JurisdictionQuery())
    return render(fmt, "jurisdictions", _JURISDICTIONS.dump(all_jurisdictions()))


@bp.get("/jurisdictions/<path:jurisdiction_id>.geojson")
def jurisdiction_limits(jurisdiction_id: str) -> Response:
    """A jurisdiction's limits as a GeoJSON Feature, for drawing on a map."""
    row = db.session.execute(
        select(Jurisdiction, Boundary.geom)
        .join(Boundary, Boundary.jurisdiction_pk == Jurisdiction.id)
        .where(Jurisdiction.jurisdiction_id == jurisdiction_id)
    ).one_or_none()
    if row is None:
        raise ApiError(404, f"No city limits are loaded for jurisdiction {jurisdiction_id!r}.")
    jurisdiction, geometry = row
    feature = {
        "type": "Feature",
        "properties": {"jurisdiction_id": jurisdiction.jurisdiction_id, "name": jurisdiction.name},
        "geometry": as_geojson(geometry),
    }
    response = Response(orjson.dumps(feature))
    response.headers["Content-Type"] = "application/geo+json; charset=utf-8"
    return response
