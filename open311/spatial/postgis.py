"""The PostGIS spatial backend: every decision is made by the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text

from open311.extensions import db
from open311.models import Boundary, Service
from open311.spatial import Nearest, SpatialBackend

# ST_Subdivide's piece size (64 vertices at most): a point test touches a handful of edges,
# yet the index stays small.
_SUBDIVIDE = text(
    "INSERT INTO boundary_parts (boundary_pk, geom) "
    "SELECT :id, (ST_Dump(piece)).geom FROM ("
    "  SELECT ST_Subdivide(geom, 64) AS piece FROM boundaries WHERE id = :id"
    ") AS pieces"
)
# The hot path of every located POST: a constant statement, compiled once.
_COVERS = text(
    "SELECT EXISTS (SELECT 1 FROM boundary_parts WHERE boundary_pk = :id "
    "AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:long, :lat), 4326)))"
)
# One round trip for many points; the array parameters keep the statement constant.
_COVERS_MANY = text(
    "SELECT EXISTS (SELECT 1 FROM boundary_parts b WHERE b.boundary_pk = :id "
    "AND ST_Covers(b.geom, ST_SetSRID(ST_MakePoint(p.long, p.lat), 4326))) "
    "FROM unnest(CAST(:longs AS float8[]), CAST(:lats AS float8[])) "
    "WITH ORDINALITY AS p(long, lat, i) ORDER BY p.i"
)


def _point(long: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(long, lat), 4326)


def _nearest(owner: Any, column: Any, long: float, lat: float) -> Nearest:
    # The planar closest point of the limit lines, then the distance to it on the sphere:
    # the same method as the shapely backend, so both say the same number of metres.
    point = _point(long, lat)
    closest = (
        select(func.ST_ClosestPoint(func.ST_Boundary(column), point).label("c"))
        .where(type(owner).id == owner.id)
        .subquery()
    )
    query = select(
        func.ST_DistanceSphere(point, closest.c.c), func.ST_X(closest.c.c), func.ST_Y(closest.c.c)
    )
    distance, x, y = db.session.execute(query).one()
    return Nearest(float(distance), float(x), float(y))


class PostgisBackend(SpatialBackend):
    """``ST_Covers`` on a subdivided, GiST-indexed copy of each boundary."""

    def boundary_covers(self, boundary: Any, long: float, lat: float) -> bool:
        """``ST_Covers`` against the boundary's indexed pieces."""
        params = {"id": boundary.id, "long": long, "lat": lat}
        return bool(db.session.execute(_COVERS, params).scalar())

    def boundary_covers_many(
        self, boundary: Any, points: Sequence[tuple[float, float]]
    ) -> list[bool]:
        """Many points in one round trip."""
        params = {
            "id": boundary.id,
            "longs": [p[0] for p in points],
            "lats": [p[1] for p in points],
        }
        return [bool(v) for v in db.session.execute(_COVERS_MANY, params).scalars()]

    def boundary_nearest(self, boundary: Any, long: float, lat: float) -> Nearest:
        """``ST_ClosestPoint`` on the limit lines, ``ST_DistanceSphere`` to it."""
        return _nearest(boundary, Boundary.geom, long, lat)

    def area_covers(self, service: Any, long: float, lat: float) -> bool:
        """``ST_Covers`` on the service's area (small: no subdivision needed)."""
        query = select(func.ST_Covers(Service.area, _point(long, lat))).where(
            Service.id == service.id
        )
        return bool(db.session.scalar(query))

    def area_nearest(self, service: Any, long: float, lat: float) -> Nearest:
        """Nearest point of the service's area."""
        return _nearest(service, Service.area, long, lat)

    def after_boundary_load(self, boundary: Any) -> None:
        """Store the subdivided pieces of the new boundary in the same transaction."""
        db.session.execute(_SUBDIVIDE, {"id": boundary.id})
