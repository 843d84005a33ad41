"""Forwarding to another GeoReport v2 server: a second gateway served on loopback."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.base import Outbound
from adapters.open311 import Open311Adapter
from open311 import dispatch
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.models import ServiceRequest
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import jobs, post


def neighbour_requests(neighbour):
    other, _, _ = neighbour
    with other.app_context():
        rows = db.session.scalars(sa.select(ServiceRequest).order_by(ServiceRequest.id)).all()
        result = [(r.service_request_id, r.service_code, r.description, r.email) for r in rows]
        db.session.remove()
    return result


@pytest.fixture
def forwarded(app, fast_retries, set_setting, neighbour):
    set_setting(adapters=("local", "open311"))
    _, url, key = neighbour
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {
        "naperville": {
            "adapter": "open311",
            "settings": {"base_url": url, "api_key": key, "read_timeout": 5.0},
        }
    }
    data["jurisdictions"][0]["backend"] = "naperville"
    import_catalogue(data)
    return data


def test_forwarded_request_is_one_request_there(client, forwarded, neighbour, api_key):
    before = len(neighbour_requests(neighbour))
    post(client, api_key, description="Across the line", email="pat@example.org")
    assert dispatch.work_once() == "delivered"
    [job] = jobs()
    there = neighbour_requests(neighbour)[before:]
    assert there == [(job.reference, "S0", "Across the line", "pat@example.org")]


def test_token_and_blackbox_receipts(client, forwarded, neighbour, api_key):
    post(client, api_key, code="SB")
    post(client, api_key, code="SX")
    dispatch.deliver_pending()
    batch, blackbox = jobs()
    assert (batch.state, blackbox.state) == ("delivered", "delivered")
    assert batch.reference.startswith("token:")
    assert blackbox.reference is None


def test_resend_with_the_same_key_is_answered_not_repeated(neighbour):
    _, url, key = neighbour
    adapter = Open311Adapter({"base_url": url, "api_key": key})
    request = Outbound(
        service_request_id="A-1",
        service_code="S0",
        service_name="Pothole",
        jurisdiction_id="aurora-il.org",
        requested_datetime=datetime.now(UTC),
        idempotency_key="job-key-1",
        lat=41.7,
        long=-88.3,
    )
    before = len(neighbour_requests(neighbour))
    first = adapter.create(request)
    second = adapter.create(request)
    adapter.close()
    assert first == second
    assert len(neighbour_requests(neighbour)) == before + 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"service_codes": {"S0": "NOPE"}}, "HTTP 404: Unknown service_code 'NOPE'"),
        ({"api_key": "wrong"}, "HTTP 403"),
    ],
)
def test_refusals_are_not_retried(client, forwarded, neighbour, api_key, change, expected):
    data = copy.deepcopy(forwarded)
    data["backends"]["naperville"]["settings"].update(change)
    import_catalogue(data)
    post(client, api_key)
    assert dispatch.work_once() == "failed"
    assert expected in jobs()[0].last_error


def test_changes_on_the_other_server_come_back_by_sync(client, forwarded, neighbour, api_key):
    from open311.feed import get_request
    from open311.status import change_status
    from open311.sync import sync_all

    receipt = post(client, api_key, description="Across the line")
    assert dispatch.work_once() == "delivered"
    [job] = jobs()
    other, _, _ = neighbour
    with other.app_context():
        change_status(get_request(None, job.reference), "closed", "Naperville filled it")
        db.session.remove()
    [result] = sync_all(adapter_name="open311")
    assert result.counts["stored"] == 1
    [shown] = client.get(f"/open311/v2/requests/{receipt['service_request_id']}.json").get_json()
    assert (shown["status"], shown["status_notes"]) == ("closed", "Naperville filled it")
    [again] = sync_all(adapter_name="open311")
    assert (again.counts["stored"], again.counts["duplicate"]) == (0, 1)
