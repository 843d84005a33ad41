"""City limits: boundaries, their subdivided parts, and per-service areas.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from open311.models.types import UTCDateTime

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def _geometry(kind):
    # Spelled out per database: GeoAlchemy2's table hooks must not see a TypeDecorator.
    if op.get_bind().dialect.name == "postgresql":
        return Geometry(kind, srid=4326, spatial_index=False)
    return sa.Text()


def upgrade():
    op.create_table(
        "boundaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_pk", sa.Integer(), nullable=False),
        sa.Column("geom", _geometry("MULTIPOLYGON"), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("holes", sa.Integer(), nullable=False),
        sa.Column("vertices", sa.Integer(), nullable=False),
        sa.Column("min_long", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_long", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_boundaries"),
        sa.ForeignKeyConstraint(
            ["jurisdiction_pk"],
            ["jurisdictions.id"],
            name="fk_boundaries_jurisdiction_pk_jurisdictions",
        ),
        sa.UniqueConstraint("jurisdiction_pk", name="uq_boundaries_jurisdiction_pk"),
    )
    op.create_table(
        "boundary_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("boundary_pk", sa.Integer(), nullable=False),
        sa.Column("geom", _geometry("POLYGON"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_boundary_parts"),
        sa.ForeignKeyConstraint(
            ["boundary_pk"],
            ["boundaries.id"],
            name="fk_boundary_parts_boundary_pk_boundaries",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_boundary_parts_boundary_pk", "boundary_parts", ["boundary_pk"])
    op.create_index("ix_boundary_parts_geom", "boundary_parts", ["geom"], postgresql_using="gist")
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("area_name", sa.String(200)))
        batch.add_column(sa.Column("area", _geometry("MULTIPOLYGON")))


def downgrade():
    with op.batch_alter_table("services") as batch:
        batch.drop_column("area")
        batch.drop_column("area_name")
    op.drop_table("boundary_parts")
    op.drop_table("boundaries")
