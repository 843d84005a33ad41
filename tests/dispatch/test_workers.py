"""Worker processes: killed mid-delivery, racing each other, and a long outage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from open311 import dispatch
from tests.dispatch.conftest import jobs, post, settle
from tests.e2e.test_serve import free_port

OPEN311 = str(Path(sys.executable).with_name("open311"))


def start_worker(app, poll="0.02", **env):
    settings = app.extensions["open311"]["settings"]
    environ = {
        **os.environ,
        "OPEN311_DATABASE_URL": settings.database_url,
        "OPEN311_ADAPTERS": "local,department",
        "OPEN311_DISPATCH_BACKOFF": "0.01",
        "OPEN311_DISPATCH_BACKOFF_MAX": "0.05",
        **env,
    }
    return subprocess.Popen(
        [OPEN311, "worker", "--poll", poll],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, limit=30.0):
    """Poll until ``condition()`` holds (a safety limit, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_worker_killed_mid_delivery_delivers_exactly_once(client, routed, api_key, department, app):
    # The department stores the record, then takes 3 s to answer: the worker dies waiting.
    from open311.catalogue import import_catalogue
    from tests.dispatch.conftest import department_backend

    routed["backends"]["streets"] = department_backend(department.url, read_timeout=20.0)
    import_catalogue(routed)
    department.faults({"mode": "slow_after", "delay": 3.0})
    receipt = post(client, api_key)
    worker = start_worker(app, OPEN311_DISPATCH_LEASE="1")
    wait_for(lambda: len(department.records()) == 1)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    [job] = jobs()
    assert (job.state, job.attempts) == ("queued", 1)  # leased, in flight, never finished

    successor = start_worker(app, OPEN311_DISPATCH_LEASE="1")
    wait_for(lambda: jobs()[0].state == "delivered")
    stop(successor)
    [job] = jobs()
    [record] = department.records()
    assert job.attempts == 2
    assert job.reference == record["id"]
    assert record["external_ref"] == receipt["service_request_id"]
    creates = [e for e in department.log() if e["operation"] == "create"]
    assert [e["outcome"] for e in creates] == ["created"]


def test_two_workers_race_for_the_same_jobs(client, routed, api_key, department, app):
    receipts = [post(client, api_key, description=f"n{i}") for i in range(30)]
    workers = [start_worker(app), start_worker(app)]
    wait_for(lambda: dispatch.pending_count() == 0)
    for worker in workers:
        stop(worker)
    refs = sorted(r["external_ref"] for r in department.records())
    assert refs == sorted(r["service_request_id"] for r in receipts)
    assert {j.state for j in jobs()} == {"delivered"}
    assert {j.attempts for j in jobs()} == {1}
    creates = [e["outcome"] for e in department.log() if e["operation"] == "create"]
    assert creates == ["created"] * 30


def test_long_outage_then_backlog_delivered_in_order_of_arrival(
    client, routed, api_key, department, set_setting
):
    # Attempts are sized to outlast the outage, as the defaults (10, 5 s .. 1 h) do for hours.
    set_setting(dispatch_max_attempts=100_000)
    department.faults({"mode": "status", "status": 503, "remaining": None})
    receipts = [post(client, api_key, description=f"n{i}") for i in range(6)]
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # the outage lasts a while: many rounds of retries
        if dispatch.work_once() is None:
            time.sleep(0.005)
    states = [j.state for j in jobs()]
    assert set(states) == {"queued", "retrying"}
    assert "retrying" in states
    assert all(j.last_error and "HTTP 503" in j.last_error for j in jobs() if j.state == "retrying")
    # While the head waits out its backoff, nothing behind it is tried.
    assert jobs()[0].attempts > 1
    assert all(j.attempts <= 1 for j in jobs()[1:])
    department.faults()
    settle()
    refs = [r["external_ref"] for r in department.records()]
    assert refs == [r["service_request_id"] for r in receipts]
    assert {j.state for j in jobs()} == {"delivered"}


def test_simulate_command_serves_the_department():
    port = free_port()
    process = subprocess.Popen(
        [OPEN311, "simulate", "department", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()
        answer = requests.post(
            f"http://127.0.0.1:{port}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "gateway",
                "client_secret": "bad",
            },
            timeout=5,
        )
        assert answer.status_code == 401
        assert answer.headers["Content-Type"] == "application/problem+json"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()


def test_simulate_command_serves_citysourced():
    port = free_port()
    process = subprocess.Popen(
        [OPEN311, "simulate", "citysourced", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()
        answer = requests.post(
            f"http://127.0.0.1:{port}/cs/rest/GetReport.ashx",
            data=b"<CsRequest><ApiAuthKey>nope</ApiAuthKey><ApiRequestType>GetReport"
            b"</ApiRequestType><ApiRequestVersion>1</ApiRequestVersion></CsRequest>",
            timeout=5,
        )
        assert answer.status_code == 200  # CitySourced-style: the error is in the body
        assert b"<Message>Invalid auth code</Message>" in answer.content
        assert requests.get(f"http://127.0.0.1:{port}/cs/rest/", timeout=5).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
