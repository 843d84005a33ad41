"""PostGIS (subdivided, indexed) and shapely (in process) must decide every point alike.

Both backends run here against the same boundaries stored in PostgreSQL: the PostGIS one in
SQL, the shapely one on the geometry read back from the database.
"""

from __future__ import annotations

import math
import random

import pytest
import sqlalchemy as sa
from shapely.geometry import Point, Polygon

from open311.extensions import db
from open311.jurisdictions import resolve_jurisdiction
from open311.limits import import_boundary
from open311.models import BoundaryPart
from open311.spatial.geojson import read_limits_file
from open311.spatial.postgis import PostgisBackend
from open311.spatial.shapely_backend import ShapelyBackend
from tests.helpers import shared_path

METRE_LAT = 1 / 111_320  # degrees of latitude per metre


def sample_points(
    limits, rng: random.Random
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Uniform points in the box, points within a metre of the lines, and points in holes."""
    min_x, min_y, max_x, max_y = limits.bounds
    points = [(rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)) for _ in range(7500)]
    metre_long = METRE_LAT / math.cos(math.radians((min_y + max_y) / 2))
    rings = [p.exterior for p in limits.geoms] + [r for p in limits.geoms for r in p.interiors]
    edges = [
        (a, b) for ring in rings for a, b in zip(ring.coords[:-1], ring.coords[1:], strict=True)
    ]
    for a, b in rng.sample(edges, 2500):
        t = rng.random()
        x, y = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        offset = rng.uniform(0.05, 1.0) * rng.choice((-1, 1))
        dx, dy = b[0] - a[0], b[1] - a[1]
        length = math.hypot(dx / metre_long, dy / METRE_LAT) or 1.0
        # Step off the edge along its normal, by up to a metre either way.
        points.append(
            (
                x - dy / METRE_LAT / length * offset * metre_long,
                y + dx / metre_long / length * offset * METRE_LAT,
            )
        )
    in_holes = []
    for polygon in limits.geoms:
        for hole in polygon.interiors:
            inner = Polygon(hole)
            in_holes.append(inner.representative_point().coords[0])
            box = inner.bounds
            for _ in range(40):
                candidate = (rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3]))
                if inner.contains(Point(candidate)):
                    in_holes.append(candidate)
    return points + in_holes, in_holes


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("jurisdiction_file", "seed"),
    [("aurora-il-boundary.geojson", 311), ("chicago-boundary.geojson", 4636)],
)
def test_backends_agree_on_10000_points(app, catalogue, jurisdiction_file, seed):
    limits = read_limits_file(shared_path("data", jurisdiction_file))
    boundary = import_boundary(resolve_jurisdiction("aurora-il.org"), limits, jurisdiction_file)
    pieces = db.session.scalar(sa.select(sa.func.count()).select_from(BoundaryPart))
    assert pieces > len(limits.geoms)  # it really was subdivided

    points, in_holes = sample_points(limits, random.Random(seed))
    assert len(points) >= 10_000
    postgis = PostgisBackend().boundary_covers_many(boundary, points)
    in_process = ShapelyBackend().boundary_covers_many(boundary, points)
    disagreements = [p for p, a, b in zip(points, postgis, in_process, strict=True) if a != b]
    assert disagreements == []
    assert 0.1 < sum(postgis) / len(points) < 0.9  # both answers occur in quantity
    hole_answers = ShapelyBackend().boundary_covers_many(boundary, in_holes)
    if in_holes:
        assert not any(hole_answers)


@pytest.mark.postgres_only
def test_backends_agree_on_distances(app, catalogue):
    limits = read_limits_file(shared_path("data", "aurora-il-boundary.geojson"))
    boundary = import_boundary(resolve_jurisdiction("aurora-il.org"), limits, "aurora")
    for long, lat in [
        (-87.6298, 41.8781),
        (-88.1535, 41.7731),
        (-88.267723, 41.764036),
        (-88.5, 41.6),
    ]:
        a = PostgisBackend().boundary_nearest(boundary, long, lat)
        b = ShapelyBackend().boundary_nearest(boundary, long, lat)
        assert a.distance_m == pytest.approx(b.distance_m, abs=0.5)
        assert (a.long, a.lat) == pytest.approx((b.long, b.lat), abs=1e-7)
        assert PostgisBackend().boundary_covers(boundary, long, lat) is False
