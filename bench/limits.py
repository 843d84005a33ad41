"""Benchmark: one city-limits decision, three ways, and a whole POST with and without it.

Run by hand (not part of the tests)::

    .venv/bin/python -m bench.limits [--points 2000] [--posts 300]

It creates a throwaway PostgreSQL database (``OPEN311_TEST_POSTGRES``, default the local
server), loads Aurora's 2023 limits from ../shared/data and prints medians of:

* the database's own execution time (``EXPLAIN ANALYZE``) of ``ST_Covers`` on the subdivided,
  GiST-indexed pieces (what the gateway does) and on the whole 4,404-vertex boundary;
* the same decision as the gateway makes it (``PostgisBackend.boundary_covers``, round trip
  included) and shapely's prepared ``covers`` in process (the SQLite default's way);
* a whole ``POST requests.json`` (test client, PostgreSQL) to a jurisdiction with limits and
  to an identical one without.

Measurements alternate between the compared cases point by point, and every figure is a ratio
against a baseline from the same run: the machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shapely
import sqlalchemy as sa
from flask_migrate import upgrade
from shapely.geometry import Point

from open311 import create_app
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.jurisdictions import resolve_jurisdiction
from open311.keys import create_key
from open311.limits import import_boundary
from open311.spatial.geojson import read_limits_file
from open311.spatial.postgis import PostgisBackend
from tests.conftest import catalogue_with_twin, throwaway_postgres_database

LIMITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "aurora-il-boundary.geojson"
POINT = "ST_SetSRID(ST_MakePoint(:long, :lat), 4326)"
QUERIES = {
    "subdivided": "SELECT EXISTS (SELECT 1 FROM boundary_parts WHERE boundary_pk = :id "
    f"AND ST_Covers(geom, {POINT}))",
    "whole": f"SELECT ST_Covers(geom, {POINT}) FROM boundaries WHERE id = :id",
}


def timed(call: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def execution_ms(query: str, params: dict[str, Any]) -> float:
    """The database's own execution time of one query, from EXPLAIN ANALYZE."""
    plan = db.session.execute(sa.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}"), params).scalar()
    return float(plan[0]["Execution Time"])


def main() -> None:
    """Run the measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(311)
    limits = read_limits_file(LIMITS)
    min_x, min_y, max_x, max_y = limits.bounds
    points = [(rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)) for _ in range(args.points)]
    inside = [p for p in points if limits.covers(Point(p))][: args.posts]
    prepared = read_limits_file(LIMITS)
    shapely.prepare(prepared)
    samples: dict[str, list[float]] = {
        k: [] for k in ("subdivided", "whole", "gateway", "shapely", "post", "post_limits")
    }

    with throwaway_postgres_database() as url:
        app = create_app({"database_url": url, "rate_limits": "false"})
        with app.app_context():
            upgrade()
            import_catalogue(catalogue_with_twin("no-limits", "Twin without limits"))
            key = create_key("bench")[1]
            boundary = import_boundary(resolve_jurisdiction("aurora-il.org"), limits, LIMITS.name)
            pieces = db.session.scalar(sa.text("SELECT count(*) FROM boundary_parts"))
            backend = PostgisBackend()
            for long, lat in points:
                params = {"id": boundary.id, "long": long, "lat": lat}
                for name, query in QUERIES.items():
                    samples[name].append(execution_ms(query, params))
                samples["gateway"].append(
                    timed(lambda long=long, lat=lat: backend.boundary_covers(boundary, long, lat))
                )
            # In a loop of its own: between database calls its caches would be cold each time.
            for long, lat in points:
                samples["shapely"].append(
                    timed(lambda long=long, lat=lat: prepared.covers(Point(long, lat)))
                )

            client = app.test_client()
            for long, lat in inside:
                for name, jurisdiction in (("post_limits", "aurora-il.org"), ("post", "no-limits")):
                    form = {"api_key": key, "service_code": "S0", "jurisdiction_id": jurisdiction}
                    form.update(long=str(long), lat=str(lat))
                    samples[name].append(
                        timed(lambda form=form: client.post("/open311/v2/requests.json", data=form))
                    )

    median = {name: statistics.median(values) for name, values in samples.items()}
    print(
        f"Aurora 2023 limits: {len(limits.geoms)} parts, {pieces} subdivided pieces (<= 64 vertices)"
    )
    print(f"{len(points)} points in the bounding box, {len(inside)} POSTs inside the limits\n")
    print(f"{'one decision':<52}{'median':>12}{'ratio':>9}")
    base = median["subdivided"]
    print(f"{'PostGIS, subdivided + GiST (database time)':<52}{base * 1000:>10.1f}us{1:>8.2f}x")
    print(
        f"{'PostGIS, whole boundary (database time)':<52}{median['whole'] * 1000:>10.1f}us{median['whole'] / base:>8.2f}x"
    )
    print(f"{'gateway call, PostGIS (with round trip)':<52}{median['gateway'] * 1e6:>10.1f}us")
    print(f"{'shapely prepared covers (in process)':<52}{median['shapely'] * 1e6:>10.1f}us\n")
    print(f"{'whole POST requests.json (PostgreSQL)':<52}{'median':>12}{'ratio':>9}")
    print(f"{'to a jurisdiction without limits':<52}{median['post'] * 1000:>10.2f}ms{1:>8.2f}x")
    print(
        f"{'to Aurora, limits checked':<52}{median['post_limits'] * 1000:>10.2f}ms{median['post_limits'] / median['post']:>8.2f}x"
    )


if __name__ == "__main__":
    main()
