"""Distances on the sphere, the same on PostgreSQL/PostGIS and on the embedded SQLite.

PostGIS measures ``geography`` distances with ``use_spheroid = false`` on a sphere of the
WGS84 mean radius; the SQLite default cannot load SpatiaLite, so the same great-circle
distance is computed in process by a function registered on each SQLite connection. Both
therefore agree to well under a millimetre at city scale.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

#: PostGIS's sphere for geography with use_spheroid=false: (2a + b) / 3 of WGS84.
EARTH_RADIUS_M = (2 * 6378137.0 + 6356752.314245179) / 3

#: Name of the SQL function registered on SQLite connections.
SQLITE_DISTANCE = "open311_distance_m"


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(long2 - long1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _sqlite_distance(lat1: Any, long1: Any, lat2: Any, long2: Any) -> float | None:
    # NULL in, NULL out, as SQL functions do; a request without coordinates matches nothing.
    if lat1 is None or long1 is None or lat2 is None or long2 is None:
        return None
    return distance_m(float(lat1), float(long1), float(lat2), float(long2))


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Make :func:`distance_m` callable from SQL on a ``sqlite3`` connection."""
    dbapi_connection.create_function(SQLITE_DISTANCE, 4, _sqlite_distance, deterministic=True)


def bounding_box(lat: float, long: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that surely contains the circle; lets an index narrow the search first.

    Returns ``(min_lon, min_lat, max_lon, max_lat)``; longitudes span the whole world when the
    circle reaches a pole or the antimeridian, where a box in degrees would be wrong.
    """
    # 1 % slack: the box only pre-selects, the exact distance decides.
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    if min_lat <= -90 or max_lat >= 90:
        return -180.0, min_lat, 180.0, max_lat
    dlong = dlat / math.cos(math.radians(max(abs(min_lat), abs(max_lat))))
    if long - dlong < -180 or long + dlong > 180:
        return -180.0, min_lat, 180.0, max_lat
    return long - dlong, min_lat, long + dlong, max_lat


def within_radius(
    dialect: str,
    lat_col: Any,
    long_col: Any,
    location_col: Any,
    lat: float,
    long: float,
    radius_m: float,
) -> ColumnElement[bool]:
    """SQL condition: the row's point is within ``radius_m`` metres of (lat, long)."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(lat, long, radius_m)
    if dialect == "postgresql":
        centre = sa.func.ST_SetSRID(sa.func.ST_MakePoint(long, lat), 4326)
        return sa.and_(
            # && on the GiST-indexed geometry narrows the rows; ST_DWithin is exact.
            location_col.op("&&")(
                sa.func.ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, 4326)
            ),
            sa.func.ST_DWithin(
                sa.func.geography(location_col),
                sa.func.geography(centre),
                radius_m,
                False,
            ),
        )
    return sa.and_(
        lat_col.between(min_lat, max_lat),
        long_col.between(min_lon, max_lon),
        sa.func.open311_distance_m(lat_col, long_col, lat, long) <= radius_m,
    )


def within_box(
    dialect: str,
    lat_col: Any,
    long_col: Any,
    location_col: Any,
    box: tuple[float, float, float, float],
) -> ColumnElement[bool]:
    """SQL condition: the row's point lies in the lon/lat ``box`` (edges included)."""
    min_lon, min_lat, max_lon, max_lat = box
    if dialect == "postgresql":
        return location_col.op("&&")(
            sa.func.ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, 4326)
        )
    return sa.and_(lat_col.between(min_lat, max_lat), long_col.between(min_lon, max_lon))
