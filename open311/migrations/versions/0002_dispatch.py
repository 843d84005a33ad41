"""Dispatch: back ends, routing, delivery jobs, client idempotency keys, admin keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from open311.models.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # procrastinate's own tables and functions, at the version pinned in pyproject.toml
        # (a procrastinate upgrade needs a migration that applies its SQL migrations).
        from procrastinate.schema import SchemaManager

        # Straight to the driver: the SQL is full of % and :: that no layer may interpolate.
        with op.get_bind().connection.dbapi_connection.cursor() as cursor:
            cursor.execute(SchemaManager.get_schema())
    op.create_table(
        "backends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("adapter", sa.String(50), nullable=False),
        sa.Column("settings", JSONType, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backends"),
        sa.UniqueConstraint("name", name="uq_backends_name"),
    )
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("backend", sa.String(100)))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("service_requests") as batch:
        batch.add_column(sa.Column("client_key", sa.String(200)))
        batch.add_column(sa.Column("body_digest", sa.String(64)))
        batch.create_unique_constraint(
            "uq_service_requests_client_key", ["api_key_pk", "client_key"]
        )
    op.create_table(
        "dispatch_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("adapter", sa.String(50), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_token", sa.String(64)),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("reference", sa.String(200)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_jobs"),
        sa.ForeignKeyConstraint(
            ["request_pk"],
            ["service_requests.id"],
            name="fk_dispatch_jobs_request_pk_service_requests",
        ),
        sa.UniqueConstraint("request_pk", name="uq_dispatch_jobs_request_pk"),
        sa.UniqueConstraint("idempotency_key", name="uq_dispatch_jobs_idempotency_key"),
    )
    op.create_index("ix_dispatch_jobs_backend", "dispatch_jobs", ["backend"])
    op.create_index("ix_dispatch_jobs_due", "dispatch_jobs", ["state", "next_attempt_at"])


def downgrade():
    op.drop_table("dispatch_jobs")
    with op.batch_alter_table("service_requests") as batch:
        batch.drop_constraint("uq_service_requests_client_key", type_="unique")
        batch.drop_column("body_digest")
        batch.drop_column("client_key")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("admin")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("backend")
    op.drop_table("backends")
    if op.get_bind().dialect.name == "postgresql":
        for table in ("events", "periodic_defers", "jobs", "workers"):
            op.execute(f"DROP TABLE IF EXISTS procrastinate_{table} CASCADE")
