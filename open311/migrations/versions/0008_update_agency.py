"""Each change in a request's history keeps the agency and expected date its source gave.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from open311.models.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("request_updates", sa.Column("agency_responsible", sa.String(200), nullable=True))
    op.add_column("request_updates", sa.Column("expected_datetime", UTCDateTime(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would trip the table's foreign keys.
    op.drop_column("request_updates", "expected_datetime")
    op.drop_column("request_updates", "agency_responsible")
