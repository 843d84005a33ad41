"""Indexes for the outbox's in-order claims: pending jobs by back end, webhooks by pair.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PENDING = sa.text("state IN ('queued', 'retrying')")


def upgrade() -> None:
    op.create_index(
        "ix_dispatch_jobs_pending_backend",
        "dispatch_jobs",
        ["backend", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_subscription_deliveries_order",
        "subscription_deliveries",
        ["subscription_pk", "request_pk", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_subscription_deliveries_order", table_name="subscription_deliveries")
    op.drop_index("ix_dispatch_jobs_pending_backend", table_name="dispatch_jobs")
