"""Relaying changes back to the back ends that hold a request (CitySourced), and apps'
subscriptions with their webhook deliveries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from open311.models.types import UTCDateTime

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "relays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_pk", sa.Integer(), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("vendor_status", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["update_pk"], ["request_updates.id"]),
        sa.ForeignKeyConstraint(["request_pk"], ["service_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("update_pk", "backend", name="uq_relays_update_backend"),
    )
    op.create_index("ix_relays_state", "relays", ["state"])
    op.create_index("ix_relays_request_pk", "relays", ["request_pk"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_pk", sa.Integer(), nullable=False),
        sa.Column("callback_url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=True),
        sa.Column("service_codes", JSONType, nullable=True),
        sa.Column("bbox", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["key_pk"], ["api_keys.id"]),
        sa.ForeignKeyConstraint(["request_pk"], ["service_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscriptions_key_pk", "subscriptions", ["key_pk"])
    op.create_table(
        "subscription_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_pk", sa.Integer(), nullable=False),
        sa.Column("update_pk", sa.Integer(), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["subscription_pk"], ["subscriptions.id"]),
        sa.ForeignKeyConstraint(["update_pk"], ["request_updates.id"]),
        sa.ForeignKeyConstraint(["request_pk"], ["service_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_pk", "update_pk", name="uq_subscription_deliveries"),
    )
    op.create_index("ix_subscription_deliveries_state", "subscription_deliveries", ["state"])


def downgrade():
    op.drop_index("ix_subscription_deliveries_state", table_name="subscription_deliveries")
    op.drop_table("subscription_deliveries")
    op.drop_index("ix_subscriptions_key_pk", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_relays_request_pk", table_name="relays")
    op.drop_index("ix_relays_state", table_name="relays")
    op.drop_table("relays")
