"""Migration 0007 gives the keys made before roles the role their flags meant, and back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from open311 import create_app
from open311.extensions import db
from tests.conftest import throwaway_postgres_database

ROWS = [
    # name, admin, vendor
    ("311 center", True, None),
    ("streets crew", False, "streets"),
    ("Aurora app", False, None),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/keys.sqlite3"
    else:
        with throwaway_postgres_database() as url:
            yield url


def test_roles_are_backfilled_from_the_admin_flag_and_the_vendor(database_url):
    app = create_app({"database_url": database_url})
    with app.app_context():
        upgrade(revision="0006")
        insert = sa.text(
            "INSERT INTO api_keys (name, prefix, key_hash, created_at, admin, vendor) "
            "VALUES (:name, :prefix, :hash, '2026-01-01 00:00:00', :admin, :vendor)"
        )
        with db.engine.begin() as connection:
            for n, (name, admin, vendor) in enumerate(ROWS):
                connection.execute(
                    insert,
                    {
                        "name": name,
                        "prefix": f"p{n}",
                        "hash": f"h{n}",
                        "admin": admin,
                        "vendor": vendor,
                    },
                )
        upgrade()
        with db.engine.connect() as connection:
            roles = dict(connection.execute(sa.text("SELECT name, role FROM api_keys")).all())
            columns = {c["name"] for c in sa.inspect(connection).get_columns("api_keys")}
        assert roles == {"311 center": "admin", "streets crew": "vendor", "Aurora app": "app"}
        assert {"role", "expires_at", "last_used_at", "revoked_at"} <= columns
        assert "admin" not in columns

        downgrade(revision="0006")
        with db.engine.connect() as connection:
            flags = dict(connection.execute(sa.text("SELECT name, admin FROM api_keys")).all())
        assert {name: bool(flag) for name, flag in flags.items()} == {
            "311 center": True,
            "streets crew": False,
            "Aurora app": False,
        }
        db.session.remove()
        db.engine.dispose()
