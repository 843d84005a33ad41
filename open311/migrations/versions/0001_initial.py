"""Initial schema: catalogue, requests, tokens, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

from open311.models.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "jurisdictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jurisdictions"),
        sa.UniqueConstraint("jurisdiction_id", name="uq_jurisdictions_jurisdiction_id"),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_pk", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(200), nullable=False),
        sa.Column("service_name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("keywords", sa.Text()),
        sa.Column("service_group", sa.String(200)),
        sa.Column("attributes", JSONType, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_services"),
        sa.ForeignKeyConstraint(
            ["jurisdiction_pk"],
            ["jurisdictions.id"],
            name="fk_services_jurisdiction_pk_jurisdictions",
        ),
        sa.UniqueConstraint("jurisdiction_pk", "service_code", name="uq_services_code"),
    )
    op.create_index("ix_services_jurisdiction_pk", "services", ["jurisdiction_pk"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
        sa.Column("last_used_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    if postgres:
        # Derived by the database from lat/long, so the two can never disagree.
        location = sa.Column(
            "location",
            Geometry("POINT", srid=4326, spatial_index=False),
            sa.Computed('ST_SetSRID(ST_MakePoint("long", "lat"), 4326)', persisted=True),
        )
    else:
        location = sa.Column("location", sa.Text())
    op.create_table(
        "service_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_request_id", sa.String(200)),
        sa.Column("jurisdiction_pk", sa.Integer(), nullable=False),
        sa.Column("service_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_notes", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("agency_responsible", sa.String(200)),
        sa.Column("service_notice", sa.Text()),
        sa.Column("requested_datetime", UTCDateTime(), nullable=False),
        sa.Column("updated_datetime", UTCDateTime(), nullable=False),
        sa.Column("expected_datetime", UTCDateTime()),
        sa.Column("address", sa.Text()),
        sa.Column("address_id", sa.String(200)),
        sa.Column("zipcode", sa.String(20)),
        sa.Column("lat", sa.Float()),
        sa.Column("long", sa.Float()),
        sa.Column("media_url", sa.Text()),
        sa.Column("attributes", JSONType, nullable=False),
        sa.Column("channel", sa.String(20)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(50)),
        sa.Column("first_name", sa.String(200)),
        sa.Column("last_name", sa.String(200)),
        sa.Column("device_id", sa.String(200)),
        sa.Column("account_id", sa.String(200)),
        sa.Column("api_key_pk", sa.Integer()),
        location,
        sa.PrimaryKeyConstraint("id", name="pk_service_requests"),
        sa.ForeignKeyConstraint(
            ["jurisdiction_pk"],
            ["jurisdictions.id"],
            name="fk_service_requests_jurisdiction_pk_jurisdictions",
        ),
        sa.ForeignKeyConstraint(
            ["service_pk"], ["services.id"], name="fk_service_requests_service_pk_services"
        ),
        sa.ForeignKeyConstraint(
            ["api_key_pk"], ["api_keys.id"], name="fk_service_requests_api_key_pk_api_keys"
        ),
        sa.UniqueConstraint("service_request_id", name="uq_service_requests_service_request_id"),
    )
    op.create_index("ix_service_requests_jurisdiction_pk", "service_requests", ["jurisdiction_pk"])
    op.create_index("ix_service_requests_service_pk", "service_requests", ["service_pk"])
    op.create_index("ix_service_requests_status", "service_requests", ["status"])
    op.create_index(
        "ix_service_requests_requested", "service_requests", ["requested_datetime", "id"]
    )
    op.create_index("ix_service_requests_updated", "service_requests", ["updated_datetime", "id"])
    op.create_index(
        "ix_service_requests_location", "service_requests", ["location"], postgresql_using="gist"
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("accepted_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.ForeignKeyConstraint(
            ["request_pk"], ["service_requests.id"], name="fk_tokens_request_pk_service_requests"
        ),
        sa.UniqueConstraint("token", name="uq_tokens_token"),
        sa.UniqueConstraint("request_pk", name="uq_tokens_request_pk"),
    )


def downgrade():
    op.drop_table("tokens")
    op.drop_table("service_requests")
    op.drop_table("api_keys")
    op.drop_table("services")
    op.drop_table("jurisdictions")
