"""Signed department webhooks: duplicates, reordering, lateness, bad signatures, healing."""

from __future__ import annotations

import copy
import json
import time

import pytest
import requests
import sqlalchemy as sa

from open311 import dispatch
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.hooks import signature
from open311.models import RequestUpdate, WebhookEvent
from open311.sync import sync_all
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import B, department_backend, jobs, post

SECRET = "whsec-department-streets-01"
HOOK = "/hooks/departments/streets"


@pytest.fixture
def hooked(app, fast_retries, department):
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"streets": department_backend(department.url, webhook_secret=SECRET)}
    data["services"][0]["backend"] = "streets"
    import_catalogue(copy.deepcopy(data))
    return data


def delivered(client, api_key):
    receipt = post(client, api_key)
    assert dispatch.deliver_pending() == 1
    [job] = jobs()
    return receipt["service_request_id"], job.reference


def event(ref, event_id, version, status, note=None, at="2030-02-02T15:00:00Z"):
    return {
        "event_id": event_id,
        "event_type": "work_request.status_changed",
        "occurred_at": at,
        "work_request": {
            "id": ref,
            "status": status,
            "status_reason": None,
            "public_note": note,
            "version": version,
            "updated_at": at,
        },
    }


def send(client, body, *, secret=SECRET, stamp=None, signed=None):
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if stamp is None else stamp)
    headers = {
        "Webhook-Id": body.get("event_id", ""),
        "Webhook-Timestamp": stamp,
        "Webhook-Signature": signed or signature(secret, stamp, raw),
        "Content-Type": "application/json",
    }
    return client.post(HOOK, data=raw, headers=headers)


def updates():
    db.session.expire_all()
    return list(db.session.scalars(sa.select(RequestUpdate).order_by(RequestUpdate.id)))


def shown(client, rid):
    [row] = client.get(f"{B}/requests/{rid}.json").get_json()
    return row["status"], row["status_notes"]


def test_signed_event_is_stored_before_the_answer(client, hooked, api_key):
    rid, ref = delivered(client, api_key)
    answer = send(client, event(ref, "evt_1", 2, "in_progress", "Crew Thursday"))
    assert answer.status_code == 200
    assert answer.get_json()["outcome"] == "stored"
    assert shown(client, rid) == ("open", "Crew Thursday")
    assert [(u.status, u.version) for u in updates()] == [("in_progress", 2)]


def test_duplicate_event_is_acknowledged_and_ignored(client, hooked, api_key):
    _, ref = delivered(client, api_key)
    first = send(client, event(ref, "evt_1", 2, "in_progress"))
    again = send(client, event(ref, "evt_1", 2, "in_progress"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json()["outcome"] == "duplicate"
    assert len(updates()) == 1
    assert db.session.scalar(sa.select(sa.func.count(WebhookEvent.id))) == 1


def test_reordered_events_keep_the_newest_version(client, hooked, api_key):
    rid, ref = delivered(client, api_key)
    # The department closed it (v3) after starting work (v2); v2 arrives last, and with the
    # same coarse timestamp, so only the version can tell the order.
    send(client, event(ref, "evt_3", 3, "completed", "Filled"))
    send(client, event(ref, "evt_2", 2, "in_progress", "Crew"))
    assert shown(client, rid) == ("closed", "Filled")
    assert [(u.version, u.applied) for u in updates()] == [(3, True), (2, False)]


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_old_or_future_timestamp_is_401_and_nothing_stored(client, hooked, api_key, age):
    rid, ref = delivered(client, api_key)
    answer = send(client, event(ref, "evt_1", 2, "completed"), stamp=int(time.time()) - age)
    assert answer.status_code == 401
    assert updates() == []
    assert shown(client, rid)[0] == "open"


def test_bad_signature_is_401_and_nothing_stored(client, hooked, api_key):
    _, ref = delivered(client, api_key)
    assert send(client, event(ref, "e1", 2, "completed"), secret="x" * 27).status_code == 401
    assert send(client, event(ref, "e2", 2, "completed"), signed="v1=00").status_code == 401
    body = event(ref, "e3", 2, "completed")
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    tampered = client.post(
        HOOK,
        data=raw.replace(b"completed", b"cancelled"),
        headers={"Webhook-Timestamp": stamp, "Webhook-Signature": signature(SECRET, stamp, raw)},
    )
    assert tampered.status_code == 401
    assert updates() == []
    assert db.session.scalar(sa.select(sa.func.count(WebhookEvent.id))) == 0


def test_malformed_event_is_400(client, hooked, api_key):
    delivered(client, api_key)
    assert send(client, {"event_id": "e1", "work_request": {"status": "x"}}).status_code == 400
    assert updates() == []


def test_unknown_department_is_404(client, hooked):
    assert client.post("/hooks/departments/nowhere", data=b"{}").status_code == 404


def test_poll_heals_a_dropped_event_and_agrees_with_webhooks(client, hooked, api_key, department):
    rid, ref = delivered(client, api_key)
    for status, note in (("in_progress", "Crew"), ("completed", "Filled")):
        requests.post(
            f"{department.url}/_sim/records/{ref}/status",
            json={"status": status, "public_note": note, "at": "2030-02-02T15:00:00Z"},
            timeout=5,
        ).raise_for_status()
    # The webhook for v2 arrived; the one for v3 was dropped.
    send(client, event(ref, "evt_2", 2, "in_progress", "Crew"))
    [result] = sync_all()
    assert result.counts["stored"] == 1
    assert shown(client, rid) == ("closed", "Filled")
    # The late webhook for v3 changes nothing: the poll already stored that version.
    late = send(client, event(ref, "evt_3", 3, "completed", "Filled"))
    assert late.get_json()["outcome"] == "duplicate"
    assert [(u.version, u.status) for u in updates()] == [(2, "in_progress"), (3, "fixed")]


def test_secret_from_the_environment_and_unset_is_503(
    app, client, fast_retries, department, api_key, monkeypatch
):
    monkeypatch.setenv("STREETS_HOOK_SECRET", SECRET)
    data = copy.deepcopy(TEST_CATALOGUE)
    backend = department_backend(department.url, webhook_secret={"env": "STREETS_HOOK_SECRET"})
    data["backends"] = {"streets": backend}
    data["services"][0]["backend"] = "streets"
    import_catalogue(copy.deepcopy(data))
    _, ref = delivered(client, api_key)
    assert send(client, event(ref, "evt_1", 2, "in_progress")).status_code == 200
    monkeypatch.delenv("STREETS_HOOK_SECRET")
    assert send(client, event(ref, "evt_2", 3, "completed")).status_code == 503
    assert [u.version for u in updates()] == [2]
