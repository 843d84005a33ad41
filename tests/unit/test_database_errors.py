"""Database errors map to answers: the database being away is a 503, our own bugs a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import exc

from open311 import create_app


@pytest.fixture
def client(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    failures = {
        "interface": exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")),
        "operational": exc.OperationalError("SELECT 1", {}, Exception("server closed")),
        "invalidated": exc.DBAPIError(
            "SELECT 1", {}, Exception("lost"), connection_invalidated=True
        ),
        "integrity": exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    }

    @app.get("/boom/<kind>.json")
    def boom(kind: str):
        raise failures[kind]

    return app.test_client()


@pytest.mark.parametrize("kind", ["interface", "operational", "invalidated"])
def test_a_lost_connection_is_a_503_with_retry_after(client, kind):
    response = client.get(f"/boom/{kind}.json")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.get_json()[0]["code"] == 503


def test_any_other_database_error_is_a_500(client):
    response = client.get("/boom/integrity.json")
    assert response.status_code == 500
    assert "duplicate key" not in response.get_data(as_text=True)
