"""The in-process spatial backend (shapely), for the embedded SQLite default."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points
from sqlalchemy import select

from open311.extensions import db
from open311.models import Boundary, Service
from open311.spatial import Nearest, SpatialBackend
from open311.spatial.sphere import distance_m


class ShapelyBackend(SpatialBackend):
    """Prepared shapely boundaries, cached per process until the stored checksum changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def _geometry(self, kind: str, row: Any, stamp: str, column: Any) -> Any:
        key = (kind, row.id)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        geometry = db.session.scalar(select(column).where(column.class_.id == row.id))
        if geometry is not None:
            shapely.prepare(geometry)
        with self._lock:
            self._cache[key] = (stamp, geometry)
        return geometry

    def _boundary(self, boundary: Boundary) -> Any:
        return self._geometry("boundary", boundary, boundary.checksum, Boundary.geom)

    def _area(self, service: Service) -> Any:
        # Areas are small; reading them each time avoids a cache that could go stale.
        return db.session.scalar(select(Service.area).where(Service.id == service.id))

    def boundary_covers(self, boundary: Any, long: float, lat: float) -> bool:
        """Whether the boundary covers the point (prepared geometry)."""
        return bool(self._boundary(boundary).covers(Point(long, lat)))

    def boundary_covers_many(
        self, boundary: Any, points: Sequence[tuple[float, float]]
    ) -> list[bool]:
        """Vectorised :meth:`boundary_covers`."""
        array = shapely.points(list(points))
        return [bool(v) for v in shapely.covers(self._boundary(boundary), array)]

    def boundary_nearest(self, boundary: Any, long: float, lat: float) -> Nearest:
        """Nearest point of the boundary's lines, distance on the sphere."""
        return _nearest(self._boundary(boundary), long, lat)

    def after_boundary_load(self, boundary: Any) -> None:
        """Nothing to prepare: geometries are prepared when first used in each process."""

    def area_covers(self, service: Any, long: float, lat: float) -> bool:
        """Whether the service's area covers the point."""
        return bool(self._area(service).covers(Point(long, lat)))

    def area_nearest(self, service: Any, long: float, lat: float) -> Nearest:
        """Nearest point of the service's area."""
        return _nearest(self._area(service), long, lat)


def _nearest(geometry: Any, long: float, lat: float) -> Nearest:
    # Same method as the PostGIS backend: the planar closest point, then the distance to it
    # on the sphere; over a city's extent the two differ from a geodesic search by centimetres.
    _, closest = nearest_points(Point(long, lat), geometry.boundary)
    return Nearest(distance_m(lat, long, closest.y, closest.x), closest.x, closest.y)
