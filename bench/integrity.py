"""What "half-written" means in the gateway's schema, as SQL the crash tests run.

A POST stores, in one transaction, the ``service_requests`` row with its public id, the
``tokens`` row of a batch service, the ``dispatch_jobs`` row of its delivery and, on
PostgreSQL, procrastinate's queue job for it. Whatever kills the server or the database, each
of these exists with all the others or not at all. Requests imported from another system's
history (``import_source`` set) have no delivery and are left out.
"""

from __future__ import annotations

import sqlalchemy as sa

#: Each check names a way of being half-written and selects the offending ids.
CHECKS: dict[str, str] = {
    "request without its dispatch job": """
        SELECT r.id FROM service_requests r
        WHERE r.import_source IS NULL
          AND NOT EXISTS (SELECT 1 FROM dispatch_jobs j WHERE j.request_pk = r.id)""",
    "request without its public id": """
        SELECT r.id FROM service_requests r
        WHERE r.import_source IS NULL AND r.service_request_id IS NULL""",
    "batch request without its token": """
        SELECT r.id FROM service_requests r JOIN services s ON s.id = r.service_pk
        WHERE s.type = 'batch' AND r.import_source IS NULL
          AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.request_pk = r.id)""",
    "dispatch job without its request": """
        SELECT j.id FROM dispatch_jobs j
        WHERE NOT EXISTS (SELECT 1 FROM service_requests r WHERE r.id = j.request_pk)""",
}

#: On PostgreSQL the queue job is written in the same transaction (open311.queue.defer).
POSTGRES_CHECKS: dict[str, str] = {
    "dispatch job without its queue job": """
        SELECT j.id FROM dispatch_jobs j
        WHERE NOT EXISTS (
            SELECT 1 FROM procrastinate_jobs p
            WHERE p.task_name = 'open311.deliver'
              AND (p.args->>'dispatch_job_id')::int = j.id)""",
    "queue job without its dispatch job": """
        SELECT p.id FROM procrastinate_jobs p
        WHERE p.task_name = 'open311.deliver'
          AND NOT EXISTS (
            SELECT 1 FROM dispatch_jobs j WHERE j.id = (p.args->>'dispatch_job_id')::int)""",
}


def half_written(database_url: str) -> dict[str, list[int]]:
    """Every half-written record in the database at ``database_url``, by kind (empty: none)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            checks = dict(CHECKS)
            if connection.dialect.name == "postgresql":
                checks.update(POSTGRES_CHECKS)
            found = {
                name: sorted(connection.scalars(sa.text(query))) for name, query in checks.items()
            }
    finally:
        engine.dispose()
    return {name: ids for name, ids in found.items() if ids}
