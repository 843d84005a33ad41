"""Pulling status back: ``open311 sync`` against the simulators (real HTTP servers)."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from functools import partial

import pytest
import requests
import sqlalchemy as sa

from open311 import dispatch
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.models import RequestUpdate, SyncCursor
from open311.sync import sync_all
from open311.worker import run_worker
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import B, department_backend, jobs, post
from tests.dispatch.test_workers import start_worker, stop, wait_for

WIDE = "start_date=2030-01-01T00:00:00Z&end_date=2030-03-31T00:00:00Z"


def advance(department, record_id, status, note=None, at=None):
    body = {"status": status, "public_note": note}
    if at:
        body["at"] = at
    requests.post(
        f"{department.url}/_sim/records/{record_id}/status", json=body, timeout=5
    ).raise_for_status()


def delivered(client, api_key, **fields):
    receipt = post(client, api_key, **fields)
    assert dispatch.deliver_pending() == 1
    [job] = jobs()
    return receipt["service_request_id"], job.reference


def updates() -> list[RequestUpdate]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(RequestUpdate).order_by(RequestUpdate.id)))


def test_each_status_and_note_arrives_with_one_poll(client, routed, api_key, department):
    rid, ref = delivered(client, api_key)
    advance(department, ref, "in_progress", "Crew scheduled for Thursday.", "2030-02-02T15:00:00Z")
    [result] = sync_all()
    assert result.counts["stored"] == 1
    [shown] = client.get(f"{B}/requests/{rid}.json").get_json()
    assert (shown["status"], shown["status_notes"]) == ("open", "Crew scheduled for Thursday.")
    assert shown["updated_datetime"] == "2030-02-02T15:00:00Z"
    advance(department, ref, "completed", "Filled.", "2030-02-03T09:30:00Z")
    sync_all()
    [shown] = client.get(f"{B}/requests/{rid}.json").get_json()
    assert (shown["status"], shown["status_notes"]) == ("closed", "Filled.")
    listed = client.get(f"{B}/servicerequestupdates.json?{WIDE}").get_json()
    assert [(u["service_request_id"], u["status"], u["description"]) for u in listed] == [
        (rid, "in_progress", "Crew scheduled for Thursday."),
        (rid, "fixed", "Filled."),
    ]


def test_overlapping_polls_store_each_change_once(client, routed, api_key, department):
    _, ref = delivered(client, api_key)
    advance(department, ref, "assigned", "Assigned to crew 4", "2030-02-02T15:00:00Z")
    first = sync_all()[0]
    second = sync_all()[0]
    assert (first.counts["stored"], second.counts["stored"]) == (1, 0)
    assert second.counts["duplicate"] == 1
    assert [u.status for u in updates()] == ["action_scheduled"]


def test_unknown_vendor_status_is_kept_raw_and_reported(
    client, routed, api_key, department, caplog
):
    rid, ref = delivered(client, api_key)
    advance(department, ref, "in_progress", "Crew", "2030-02-02T15:00:00Z")
    sync_all()
    advance(department, ref, "escalated_to_state", "IDOT", "2030-02-02T16:00:00Z")
    [result] = sync_all()
    assert result.counts["unknown"] == 1
    assert "1 unknown" in result.line()
    [shown] = client.get(f"{B}/requests/{rid}.json").get_json()
    assert (shown["status"], shown["status_notes"]) == ("open", "Crew")
    assert [(u.status, u.raw_status) for u in updates()] == [
        ("in_progress", "in_progress"),
        (None, "escalated_to_state"),
    ]
    assert "escalated_to_state" in caplog.text
    listed = client.get(f"{B}/servicerequestupdates.json?{WIDE}").get_json()
    assert [u["status"] for u in listed] == ["in_progress"]


def test_configured_status_table_wins_over_the_default(
    app, client, fast_retries, department, api_key
):
    data = copy.deepcopy(TEST_CATALOGUE)
    backend = department_backend(department.url)
    backend["statuses"] = {"in_progress": "action_scheduled", "completed": "closed"}
    data["backends"] = {"streets": backend}
    data["services"][0]["backend"] = "streets"
    import_catalogue(copy.deepcopy(data))
    _, ref = delivered(client, api_key)
    advance(department, ref, "in_progress", None, "2030-02-02T15:00:00Z")
    sync_all()
    assert [u.status for u in updates()] == ["action_scheduled"]


def test_a_back_end_that_is_down_keeps_its_cursor(client, routed, api_key, department):
    _, ref = delivered(client, api_key)
    sync_all()
    before = db.session.scalar(sa.select(SyncCursor)).polled_until
    department.faults({"operation": "lookup", "mode": "status", "status": 503, "remaining": 5})
    [result] = sync_all()
    assert "503" in result.error
    db.session.expire_all()
    assert db.session.scalar(sa.select(SyncCursor)).polled_until == before
    department.faults()
    advance(department, ref, "in_progress", None, "2030-02-02T15:00:00Z")
    [result] = sync_all()
    assert result.counts["stored"] == 1


def test_sync_command_runs_one_pass(app, client, routed, api_key, department):
    _, ref = delivered(client, api_key)
    advance(department, ref, "completed", "Done", "2030-02-02T15:00:00Z")
    out = app.test_cli_runner().invoke(args=["sync", "--adapter", "department"])
    assert out.exit_code == 0, out.output
    assert "streets: 1 stored, 0 duplicate, 0 unknown, 0 unmatched" in out.output
    none = app.test_cli_runner().invoke(args=["sync", "--adapter", "citysourced"])
    assert "No back end" in none.output


def test_citysourced_repeated_autumn_hour_is_stored_once(
    client, vendor_routed, api_key, citysourced
):
    _, ref = delivered(client, api_key)
    # 01:30 on 2030-11-03 happens twice in Chicago; CitySourced writes no offset.
    requests.post(
        f"{citysourced.url}/_sim/reports/{ref}/status",
        json={"status": "In Progress", "sla": "Crew", "at": "2030-11-03T01:30:00"},
        timeout=5,
    ).raise_for_status()
    assert sync_all()[0].counts["stored"] == 1
    assert sync_all()[0].counts["duplicate"] == 1
    [update] = updates()
    # Read as the first (daylight) occurrence, consistently on every poll.
    assert update.updated_datetime == datetime(2030, 11, 3, 6, 30, tzinfo=UTC)
    assert update.status == "in_progress"


def test_in_process_dispatcher_delivers_and_polls(
    app, client, routed, api_key, department, set_setting
):
    set_setting(sync_interval=0.05)
    receipt = post(client, api_key)
    halt = threading.Event()
    thread = threading.Thread(
        target=run_worker, args=(app, halt), kwargs={"poll": 0.02, "sync": True}, daemon=True
    )
    thread.start()
    try:
        wait_for(lambda: bool(jobs()[0].reference))
        ref = jobs()[0].reference
        advance(department, ref, "completed", "Filled", "2030-02-02T15:00:00Z")
        wait_for(lambda: any(u.status == "fixed" for u in updates()))
    finally:
        halt.set()
        thread.join(timeout=30)
    db.session.expire_all()
    [shown] = client.get(f"{B}/requests/{receipt['service_request_id']}.json").get_json()
    assert (shown["status"], shown["status_notes"]) == ("closed", "Filled")


@pytest.mark.postgres_only
def test_procrastinate_runs_the_sync_every_minute(
    app, client, routed, api_key, department, monkeypatch
):
    from open311 import queue

    monkeypatch.setattr(queue, "_flask_app", None)
    worker = queue.QueueWorker(app)  # registers the periodic task; not started
    worker.loop.close()
    [periodic] = [
        p
        for p in worker.app.periodic_registry.periodic_tasks.values()
        if p.task.name == queue.SYNC_TASK
    ]
    assert periodic.cron == "* * * * *"
    _, ref = delivered(client, api_key)
    advance(department, ref, "in_progress", "Crew", "2030-02-02T15:00:00Z")
    # A real worker: procrastinate defers the latest minute's sync at start-up, then runs it.
    worker_process = start_worker(app, poll="600")
    try:
        wait_for(lambda: [u.status for u in updates()] == ["in_progress"])
    finally:
        stop(worker_process)
    ran = (
        db.session.execute(
            sa.text("SELECT status FROM procrastinate_jobs WHERE task_name = :t"),
            {"t": queue.SYNC_TASK},
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    assert "succeeded" in ran


def test_a_back_end_whose_secret_is_unset_fails_alone(
    app, client, fast_retries, department, api_key, monkeypatch
):
    monkeypatch.setenv("STREETS_CLIENT_SECRET", "s3cret")
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {
        "streets": department_backend(
            department.url, client_secret={"env": "STREETS_CLIENT_SECRET"}
        )
    }
    data["services"][0]["backend"] = "streets"
    import_catalogue(copy.deepcopy(data))
    monkeypatch.delenv("STREETS_CLIENT_SECRET")
    app.extensions["open311"]["backends"].clear()
    [result] = sync_all()
    assert "STREETS_CLIENT_SECRET" in result.error
    assert updates() == []


def test_scheduled_passes_honour_the_sync_interval(
    client, routed, api_key, department, set_setting
):
    from datetime import timedelta

    from open311.sync import is_due

    set_setting(sync_interval=120)
    _, ref = delivered(client, api_key)
    advance(department, ref, "in_progress", "Crew", "2030-02-02T15:00:00Z")
    [first] = sync_all(due_only=True)  # never polled: due
    assert first.counts["stored"] == 1
    advance(department, ref, "completed", "Filled", "2030-02-02T16:00:00Z")
    assert sync_all(due_only=True) == []  # the periodic task a minute later: not yet
    cursor = db.session.scalar(sa.select(SyncCursor))
    began = cursor.updated_at
    # Counted in whole minutes of the periodic task: a pass that began late in its minute
    # (a worker's first, at start-up) does not push the next tick's pass back.
    cursor.updated_at = datetime(2030, 2, 2, 16, 0, 32, tzinfo=UTC)
    db.session.commit()
    at = partial(datetime, 2030, 2, 2, 16, tzinfo=UTC)
    assert not is_due("streets", 60, at(0, 59))
    assert is_due("streets", 60, at(1, 0, 400_000))  # the next tick, 28 s later
    assert not is_due("streets", 120, at(1, 59))
    assert is_due("streets", 120, at(2, 0, 300_000))
    assert not is_due("streets", 90, at(1, 30))  # rounded up to two minutes
    assert is_due("streets", 90, at(2, 1))
    cursor.updated_at = began - timedelta(seconds=120)
    db.session.commit()
    [second] = sync_all(due_only=True)
    assert second.counts["stored"] == 1
    assert [u.status for u in updates()] == ["in_progress", "fixed"]
    assert sync_all(due_only=True) == []
    assert sync_all()[0].counts["duplicate"] == 1  # by hand (open311 sync): always polled
