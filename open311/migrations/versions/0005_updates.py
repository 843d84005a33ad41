"""Request update history, poll cursors, seen webhook events, vendor keys,
per-back-end status tables and resident notifications.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from open311.models.types import UTCDateTime

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("vendor", sa.String(100), nullable=True))
    with op.batch_alter_table("backends") as batch:
        batch.add_column(sa.Column("statuses", JSONType, nullable=True))
    op.create_table(
        "request_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.String(64), nullable=True),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(40), nullable=True),
        sa.Column("raw_status", sa.String(200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("source_ref", sa.String(300), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("updated_datetime", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["request_pk"], ["service_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("update_id"),
        sa.UniqueConstraint("source", "source_ref", name="uq_request_updates_source_ref"),
    )
    op.create_index("ix_request_updates_request_pk", "request_updates", ["request_pk"])
    op.create_index("ix_request_updates_updated", "request_updates", ["updated_datetime", "id"])
    op.create_table(
        "sync_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("polled_until", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("backend"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("backend", "event_id", name="uq_webhook_events_event"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_pk", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["update_pk"], ["request_updates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("update_pk"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_notifications_state", "notifications", ["state"])
    op.create_table(
        "notification_optouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_pk"], ["service_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_pk"),
    )


def downgrade():
    op.drop_table("notification_optouts")
    op.drop_index("ix_notifications_state", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("webhook_events")
    op.drop_table("sync_cursors")
    op.drop_index("ix_request_updates_updated", table_name="request_updates")
    op.drop_index("ix_request_updates_request_pk", table_name="request_updates")
    op.drop_table("request_updates")
    with op.batch_alter_table("backends") as batch:
        batch.drop_column("statuses")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("vendor")
