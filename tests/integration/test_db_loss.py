"""A database connection that dies during a request: the request's answer still goes out."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from open311 import queue
from open311.extensions import db
from open311.models import DispatchJob


def terminate_session_connection() -> None:
    """Kill, from another connection, the server process of the session's connection."""
    pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
    with db.engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.mark.postgres_only
def test_a_connection_killed_mid_request_does_not_break_the_teardown(app):
    # The session's connection dies with its transaction open (a crash, a failover); the
    # teardown's rollback then fails. That must not turn the answer into gunicorn's bare 500.
    with app.app_context():
        terminate_session_connection()
    with app.app_context():  # the next request gets a working session
        assert db.session.scalar(sa.text("SELECT 1")) == 1


@pytest.mark.postgres_only
def test_a_connection_lost_while_deferring_is_a_database_error(app):
    # procrastinate wraps the driver's error in its own; the 503 handler needs the original.
    with app.app_context():
        terminate_session_connection()
        with pytest.raises(sa.exc.OperationalError):
            queue.defer(DispatchJob(id=1))
