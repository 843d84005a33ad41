"""API key roles (app, vendor, admin) and expiry dates.

``role`` is backfilled from the ``admin`` flag of 0002 and the ``vendor`` binding of 0005, and
the flag is dropped: one column says what a key may do. Columns are dropped with a plain
``ALTER TABLE ... DROP COLUMN`` (SQLite 3.35 and later), not a batch rebuild, which the
foreign keys of requests and subscriptions would refuse while they reference keys.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from open311.models.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

keys = sa.table(
    "api_keys",
    sa.column("admin", sa.Boolean()),
    sa.column("vendor", sa.String()),
    sa.column("role", sa.String()),
)


def upgrade():
    op.add_column(
        "api_keys", sa.Column("role", sa.String(16), nullable=False, server_default="app")
    )
    op.add_column("api_keys", sa.Column("expires_at", UTCDateTime(), nullable=True))
    # A vendor binding wins over the admin flag (create_key never allowed both).
    op.execute(keys.update().where(keys.c.vendor.is_not(None)).values(role="vendor"))
    op.execute(
        keys.update().where(keys.c.vendor.is_(None), keys.c.admin == sa.true()).values(role="admin")
    )
    op.drop_column("api_keys", "admin")


def downgrade():
    op.add_column(
        "api_keys", sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.execute(keys.update().where(keys.c.role == "admin").values(admin=sa.true()))
    op.drop_column("api_keys", "expires_at")
    op.drop_column("api_keys", "role")
