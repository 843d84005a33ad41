"""Delivering to the department simulator, whatever it does (docs/vendors.md §6)."""

from __future__ import annotations

import pytest

from open311 import dispatch
from open311.extensions import db
from tests.dispatch.conftest import jobs, post, settle


def test_delivers_one_record_with_the_job_key(client, routed, api_key, department):
    receipt = post(client, api_key, description="Deep pothole", email="pat@example.org")
    assert dispatch.deliver_pending() == 1
    [job] = jobs()
    [record] = department.records()
    assert job.state == "delivered"
    assert job.reference == record["id"]
    assert record["external_ref"] == receipt["service_request_id"]
    assert record["key"] == job.idempotency_key
    assert job.attempts == 1


def test_local_services_are_delivered_in_the_post(client, routed, api_key, department, set_setting):
    set_setting(dispatch="inline")
    post(client, api_key, code="S1", **{"attribute[REQ1]": "T-1"})
    [job] = jobs()
    assert (job.backend, job.state, job.attempts) == ("local", "delivered", 1)
    assert department.records() == []


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
@pytest.mark.parametrize("with_retry_after", [False, True])
def test_server_errors_are_retried_with_the_same_key(
    client, routed, api_key, department, status, with_retry_after
):
    fault = {"mode": "status", "status": status, "remaining": 2}
    if with_retry_after:
        fault["retry_after"] = 0
    department.faults(fault)
    post(client, api_key)
    settle()
    [job] = jobs()
    assert job.state == "delivered"
    assert job.attempts == 3
    assert len(department.records()) == 1
    keys = {entry["key"] for entry in department.log() if "key" in entry}
    assert keys == {job.idempotency_key}


def test_retry_after_sets_the_next_attempt(client, routed, api_key, department):
    department.faults({"mode": "status", "status": 429, "retry_after": 120})
    post(client, api_key)
    assert dispatch.work_once() == "retrying"
    [job] = jobs()
    assert "HTTP 429" in job.last_error
    assert (job.next_attempt_at - job.updated_at).total_seconds() >= 119


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "malformed"},
        {"mode": "html"},
        {"mode": "status", "status": 502, "message": "html"},
        {"mode": "drop_after"},
        {"mode": "slow_before", "delay": 1.0},
        {"mode": "slow_after", "delay": 1.0},
    ],
    ids=[
        "truncated-json",
        "html-page",
        "html-502",
        "lost-response",
        "timeout-before",
        "timeout-after",
    ],
)
def test_garbled_or_lost_answers_end_in_exactly_one_record(
    client, routed, api_key, department, fault
):
    department.faults(fault)
    receipt = post(client, api_key)
    settle()
    [job] = jobs()
    [record] = department.records()
    assert job.state == "delivered"
    assert job.reference == record["id"]
    assert record["external_ref"] == receipt["service_request_id"]
    assert job.attempts == 2


def test_byte_order_mark_is_tolerated(client, routed, api_key, department):
    department.faults({"mode": "bom"})
    post(client, api_key)
    assert dispatch.work_once() == "delivered"


def test_lost_response_is_found_by_lookup_before_creating_again(
    client, routed, api_key, department
):
    department.faults({"mode": "drop_after"})
    post(client, api_key)
    settle()
    operations = [
        (e["operation"], e["outcome"]) for e in department.log() if e["operation"] != "token"
    ]
    assert operations == [("create", "created"), ("lookup", "found")]


def test_conflict_with_existing_id_is_adopted(client, routed, api_key, department):
    department.faults({"mode": "drop_after"})
    post(client, api_key)
    assert dispatch.work_once() == "retrying"
    # Suppose the department lost our idempotency key: a new key meets the known reference,
    # and an attempt that does not know it may have landed goes straight to create.
    [job] = jobs()
    job.idempotency_key, job.last_error, job.attempts = "other-key", None, 0
    db.session.commit()
    settle()
    [job] = jobs()
    [record] = department.records()
    assert job.reference == record["id"]
    outcomes = [(e["operation"], e["outcome"]) for e in department.log()]
    assert outcomes[-1] == ("create", "conflict")


def test_refused_credentials_fail_at_once_without_retries(
    client, app, fast_retries, department, api_key
):
    import copy

    from open311.catalogue import import_catalogue
    from tests.conftest import TEST_CATALOGUE
    from tests.dispatch.conftest import department_backend

    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"streets": department_backend(department.url, client_secret="wrong")}
    data["services"][0]["backend"] = "streets"
    import_catalogue(data)
    post(client, api_key)
    assert dispatch.work_once() == "failed"
    assert dispatch.work_once() is None
    [job] = jobs()
    assert job.attempts == 1
    assert "credentials refused" in job.last_error
    assert [e["outcome"] for e in department.log()] == ["refused"]


def test_forbidden_is_not_retried(client, routed, api_key, department):
    department.faults({"mode": "auth"})
    post(client, api_key)
    assert dispatch.work_once() == "failed"
    assert department.records() == []


def test_expired_token_is_refreshed_once(client, routed, api_key, department):
    post(client, api_key)
    post(client, api_key)
    department.faults({"mode": "expire_token"})
    settle()
    assert [j.state for j in jobs()] == ["delivered", "delivered"]
    assert [j.attempts for j in jobs()] == [1, 1]
    assert [e["outcome"] for e in department.log() if e["operation"] == "token"] == [
        "issued",
        "issued",
    ]
    assert len(department.records()) == 2


def test_connection_refused_is_retried_then_dead_lettered(client, app, fast_retries, api_key):
    import copy
    import socket

    from open311.catalogue import import_catalogue
    from tests.conftest import TEST_CATALOGUE
    from tests.dispatch.conftest import department_backend

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"streets": department_backend(f"http://127.0.0.1:{port}")}
    data["services"][0]["backend"] = "streets"
    import_catalogue(data)
    post(client, api_key)
    settle()
    [job] = jobs()
    assert job.state == "failed"
    assert job.attempts == 5
    assert "refused" in job.last_error


def test_personal_data_never_reaches_the_logs(client, routed, api_key, department, caplog):
    caplog.set_level("DEBUG")
    department.faults({"mode": "drop_after"}, {"mode": "status", "status": 500})
    personal = {
        "email": "pat.doe@example.org",
        "phone": "630-555-0199",
        "first_name": "Patricia",
        "last_name": "Doenitz",
        "device_id": "device-7731",
        "account_id": "acct-99812",
    }
    post(client, api_key, **personal)
    settle()
    [record] = department.records()
    assert record["external_ref"]
    assert "retrying" in caplog.text  # the failures were logged
    for value in personal.values():
        assert value not in caplog.text
