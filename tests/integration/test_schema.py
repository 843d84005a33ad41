"""The migrations build exactly the models, and PostGIS holds every located request."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from open311.extensions import db
from open311.models import ServiceRequest
from tests.helpers import json_ok


def test_migrations_match_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)

    # PostGIS's and procrastinate's own tables live in the same schema; not ours to compare.
    def foreign(item):
        table = getattr(item, "table", item)
        return table.name == "spatial_ref_sys" or table.name.startswith("procrastinate_")

    ours = [d for d in diff if not (d[0] in ("remove_table", "remove_index") and foreign(d[1]))]
    assert ours == []


@pytest.mark.postgres_only
def test_location_is_a_postgis_point(app, client, catalogue, api_key):
    assert db.engine.dialect.name == "postgresql"
    response = client.post(
        "/open311/v2/requests.json",
        data={"api_key": api_key, "service_code": "S0", "lat": "41.7606", "long": "-88.3201"},
    )
    request_id = json_ok(response)[0]["service_request_id"]
    x, y, srid, kind = db.session.execute(
        sa.select(
            sa.func.ST_X(ServiceRequest.location),
            sa.func.ST_Y(ServiceRequest.location),
            sa.func.ST_SRID(ServiceRequest.location),
            sa.func.GeometryType(ServiceRequest.location),
        ).where(ServiceRequest.service_request_id == request_id)
    ).one()
    assert (x, y, srid, kind) == (-88.3201, 41.7606, 4326, "POINT")
    near = db.session.scalar(
        sa.select(sa.func.count()).where(
            sa.func.ST_DWithin(
                ServiceRequest.location,
                sa.func.ST_SetSRID(sa.func.ST_MakePoint(-88.3200, 41.7606), 4326),
                0.001,
            )
        )
    )
    assert near == 1
