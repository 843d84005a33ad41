"""procrastinate on PostgreSQL: queue jobs share the request's transaction and wake workers."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from open311.extensions import db
from open311.queue import TASK, conninfo
from tests.dispatch.conftest import B, jobs, post
from tests.dispatch.test_workers import start_worker, stop, wait_for

pytestmark = pytest.mark.postgres_only


def queue_jobs():
    db.session.expire_all()
    rows = db.session.execute(
        sa.text(
            "SELECT (args->>'dispatch_job_id')::int, status FROM procrastinate_jobs "
            "WHERE task_name = :task ORDER BY id"
        ),
        {"task": TASK},
    ).all()
    db.session.rollback()
    return [tuple(row) for row in rows]


def test_each_request_defers_one_queue_job_in_its_transaction(client, routed, api_key):
    post(client, api_key)
    post(client, api_key, code="S1", **{"attribute[REQ1]": "x"})
    refused = client.post(f"{B}/requests.json", data={"api_key": api_key, "service_code": "S0"})
    assert refused.status_code == 400
    assert [job_id for job_id, _ in queue_jobs()] == [j.id for j in jobs()]


def test_simultaneous_replays_defer_one_queue_job(app, client, routed, api_key):
    barrier = threading.Barrier(6)

    def replay():
        barrier.wait()
        with app.test_client() as own:
            own.post(
                f"{B}/requests.json",
                data={"api_key": api_key, "service_code": "S0", "lat": "41.7", "long": "-88.3"},
                headers={"Idempotency-Key": "same"},
            )

    threads = [threading.Thread(target=replay) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(jobs()) == 1
    assert [job_id for job_id, _ in queue_jobs()] == [jobs()[0].id]


def test_worker_is_woken_by_the_queue_not_the_sweep(client, routed, api_key, department, app):
    # The sweep looks every 600 s: a delivery within the wait can only come from the queue.
    def registered():
        count = db.session.execute(sa.text("SELECT count(*) FROM procrastinate_workers")).scalar()
        db.session.rollback()
        return count

    before = registered()  # rows of workers killed by other tests may linger
    worker = start_worker(app, poll="600")
    try:
        wait_for(lambda: registered() > before)
        db.session.rollback()
        post(client, api_key)
        wait_for(lambda: jobs()[0].state == "delivered")
        wait_for(lambda: queue_jobs() == [(jobs()[0].id, "succeeded")])
    finally:
        stop(worker)
    assert len(department.records()) == 1


def test_conninfo_drops_the_sqlalchemy_driver():
    assert conninfo("postgresql+psycopg2://u:p@h:5/d") == "postgresql://u:p@h:5/d"
