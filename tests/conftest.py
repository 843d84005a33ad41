"""Shared fixtures: the app on both databases, a client, keys and catalogues.

API tests run twice, on the embedded SQLite default and on PostgreSQL with PostGIS. The
PostgreSQL run creates a throwaway database on the local server (``OPEN311_TEST_POSTGRES``,
default ``postgresql://postgres@127.0.0.1:5432/postgres``) and fails, never skips, when the
server or PostGIS is missing: ``.ci/run`` installs both.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from open311 import create_app
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.keys import create_key
from open311.models import Service, ServiceRequest

# Tests share apps, keys and addresses far beyond any real client's budget: the rate limits
# are off in every app and server a test starts, unless it turns them on itself
# (tests/api/test_rate_limits.py).
os.environ.setdefault("OPEN311_RATE_LIMITS", "false")

POSTGRES_ADMIN_URL = os.environ.get(
    "OPEN311_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TABLES = (
    "subscription_deliveries",
    "subscriptions",
    "relays",
    "notifications",
    "notification_optouts",
    "request_updates",
    "sync_cursors",
    "webhook_events",
    "dispatch_jobs",
    "tokens",
    "service_requests",
    "api_keys",
    "boundary_parts",
    "boundaries",
    "services",
    "backends",
    "jurisdictions",
)

#: The checklist's seeded services: S0 (no attributes), S1 (attributes), SB (batch), SX (blackbox).
TEST_CATALOGUE: dict[str, Any] = {
    "jurisdictions": [{"jurisdiction_id": "aurora-il.org", "name": "City of Aurora, Illinois"}],
    "services": [
        {
            "service_code": "S0",
            "service_name": "Pothole",
            "description": "A hole in the street",
            "type": "realtime",
            "keywords": "pothole,street",
            "group": "Streets",
        },
        {
            "service_code": "S1",
            "service_name": "Tree trimming",
            "description": "A city tree needs trimming",
            "type": "realtime",
            "keywords": "tree",
            "group": "Forestry",
            "attributes": [
                {
                    "code": "REQ1",
                    "order": 1,
                    "datatype": "string",
                    "required": True,
                    "description": "What is the tag number?",
                },
                {
                    "code": "SEL",
                    "order": 2,
                    "datatype": "singlevaluelist",
                    "description": "Which side?",
                    "values": [{"key": "a", "name": "Left"}, {"key": "b", "name": "Right"}],
                },
                {
                    "code": "MUL",
                    "order": 3,
                    "datatype": "multivaluelist",
                    "description": "What is wrong?",
                    "values": [
                        {"key": "x", "name": "X"},
                        {"key": "y", "name": "Y"},
                        {"key": "z", "name": "Z"},
                    ],
                },
                {"code": "NUM", "order": 4, "datatype": "number", "description": "How many?"},
                {"code": "WHEN", "order": 5, "datatype": "datetime", "description": "Since when?"},
                {"code": "TXT", "order": 6, "datatype": "text", "description": "Anything else?"},
                {
                    "code": "INFO",
                    "order": 7,
                    "datatype": "string",
                    "variable": False,
                    "description": "Private trees are the owner's care.",
                },
            ],
        },
        {
            "service_code": "SB",
            "service_name": "Lead service line",
            "description": "Replace a lead line",
            "type": "batch",
            "keywords": "lead",
            "group": "Water",
        },
        {
            "service_code": "SX",
            "service_name": "Construction question",
            "description": "Ask about construction",
            "type": "blackbox",
            "keywords": "construction",
            "group": "Information",
        },
    ],
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run ``postgres_only`` tests on PostgreSQL alone (deselected, not skipped, on SQLite)."""
    kept, dropped = [], []
    for item in items:
        on_sqlite = "[sqlite" in item.nodeid
        (dropped if on_sqlite and item.get_closest_marker("postgres_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database; yields its URL and drops it afterwards."""
    name = f"open311_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    with throwaway_postgres_database() as url:
        yield url


def _migrated_app(url: str) -> Flask:
    app = create_app({"database_url": url})
    app.config["TESTING"] = True
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app on a SQLite file, migrated once."""
    path = tmp_path_factory.mktemp("sqlite") / "open311.sqlite3"
    return _migrated_app(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def postgresql_app(postgres_url: str) -> Flask:
    """The app on PostgreSQL/PostGIS, migrated once."""
    return _migrated_app(postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The app on each database in turn, emptied after every test."""
    app = request.getfixturevalue(f"{request.param}_app")
    settings = app.extensions["open311"]["settings"]
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # A periodic task is deferred once per minute; a test's worker must not find
                # the minute already taken by an earlier test's.
                connection.execute(sa.text("DELETE FROM procrastinate_periodic_defers"))
                connection.execute(sa.text("DELETE FROM procrastinate_events"))
                connection.execute(sa.text("DELETE FROM procrastinate_jobs"))
            for table in TABLES:
                connection.execute(sa.text(f"DELETE FROM {table}"))
    app.extensions["open311"]["settings"] = settings


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of :func:`app`."""
    return app.test_client()


@pytest.fixture
def catalogue(app: Flask) -> dict[str, Any]:
    """The checklist's single-jurisdiction catalogue, loaded."""
    data = copy.deepcopy(TEST_CATALOGUE)
    import_catalogue(copy.deepcopy(data))
    return data


def catalogue_with_twin(jurisdiction_id: str, name: str) -> dict[str, Any]:
    """The checklist catalogue for Aurora plus a second jurisdiction offering the same services."""
    data = copy.deepcopy(TEST_CATALOGUE)
    data["jurisdictions"].append({"jurisdiction_id": jurisdiction_id, "name": name})
    for service in list(data["services"]):
        service["jurisdiction_id"] = "aurora-il.org"
        twin = copy.deepcopy(service)
        twin["jurisdiction_id"] = jurisdiction_id
        data["services"].append(twin)
    return data


@pytest.fixture
def multi_catalogue(app: Flask) -> dict[str, Any]:
    """Two jurisdictions, each with the checklist's services: multi-jurisdiction mode."""
    data = catalogue_with_twin("naperville.il.us", "Naperville")
    import_catalogue(copy.deepcopy(data))
    return data


@pytest.fixture
def api_key(app: Flask) -> str:
    """A valid API key."""
    return create_key("tests")[1]


@pytest.fixture
def set_setting(app: Flask) -> Any:
    """Change a setting for one test (restored by :func:`app`)."""

    def setter(**changes: Any) -> None:
        extension = app.extensions["open311"]
        extension["settings"] = replace(extension["settings"], **changes)

    return setter


@pytest.fixture
def seed(app: Flask, catalogue: dict[str, Any]) -> Any:
    """Insert a request directly, e.g. one requested 100 days ago."""

    def seeder(
        requested: datetime,
        service_code: str = "S0",
        status: str = "open",
        updated: datetime | None = None,
        **fields: Any,
    ) -> ServiceRequest:
        service = db.session.scalar(sa.select(Service).where(Service.service_code == service_code))
        row = ServiceRequest(
            jurisdiction_pk=service.jurisdiction_pk,
            service=service,
            status=status,
            requested_datetime=requested,
            updated_datetime=updated or requested,
            attributes={},
            **fields,
        )
        db.session.add(row)
        db.session.flush()
        row.service_request_id = str(row.id)
        db.session.commit()
        return row

    return seeder
