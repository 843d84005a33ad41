"""Changes made elsewhere relayed to the CitySourced-like simulator (UpdateThreeOneOne)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
import sqlalchemy as sa

from open311 import dispatch, relay
from open311.extensions import db
from open311.models import Relay, ServiceRequest
from open311.models.relays import FAILED, QUEUED, SENT
from open311.sync import sync_all
from open311.updates import NewUpdate, record
from tests.dispatch.conftest import B, post


def delivered(client, api_key, citysourced) -> tuple[ServiceRequest, str]:
    receipt = post(client, api_key, description="Deep pothole", email="pat@example.org")
    assert dispatch.work_once() == "delivered"
    [report] = citysourced.records()
    assert report["ExternalRequestId"] == receipt["service_request_id"]
    row = db.session.scalar(
        sa.select(ServiceRequest).where(
            ServiceRequest.service_request_id == receipt["service_request_id"]
        )
    )
    return row, report["Id"]


def updates_sent(citysourced) -> list[dict]:
    return [e for e in citysourced.log() if e["operation"] == "UpdateThreeOneOne"]


def relays() -> list[Relay]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Relay).order_by(Relay.id)))


def soon(minutes: int) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_update_posted_by_a_client_is_relayed_by_the_worker(
    client, vendor_routed, api_key, citysourced
):
    row, report_id = delivered(client, api_key, citysourced)
    response = client.post(
        f"{B}/servicerequestupdates.json",
        data={
            "api_key": api_key,
            "service_request_id": row.service_request_id,
            "update_id": "crew-1",
            "status": "FIXED",
            "updated_datetime": soon(1),
            "description": "Filled the hole",
        },
    )
    assert response.status_code == 200, response.data
    assert updates_sent(citysourced) == []  # queued, never sent from the web request
    [queued] = relays()
    assert (queued.state, queued.reference, queued.vendor_status) == (QUEUED, report_id, "Closed")
    assert relay.send_due() == 1
    [sent] = updates_sent(citysourced)
    assert (sent["report_id"], sent["status"], sent["notes"]) == (
        report_id,
        "Closed",
        "Filled the hole",
    )
    [report] = [r for r in citysourced.records() if r["Id"] == report_id]
    assert report["StatusType"] == "Closed"
    assert relays()[0].state == SENT
    assert relay.send_due() == 0
    assert len(updates_sent(citysourced)) == 1
    # The next poll reads the relayed status back from CitySourced: an echo, not a change.
    [result] = sync_all()
    assert result.counts["stored"] == 0
    db.session.expire_all()
    assert (row.status, row.status_notes) == ("closed", "Filled the hole")
    assert (
        len(
            client.get(f"{B}/requests/{row.service_request_id}.json?extensions=true").get_json()[0][
                "extended_attributes"
            ]["updates"]
        )
        == 1
    )


def test_change_from_citysourced_itself_is_never_echoed(
    client, vendor_routed, api_key, citysourced
):
    _, report_id = delivered(client, api_key, citysourced)
    requests.post(
        f"{citysourced.url}/_sim/reports/{report_id}/status",
        json={"status": "In Progress"},
        timeout=5,
    ).raise_for_status()
    [result] = sync_all()
    assert result.counts["stored"] == 1
    assert relays() == []
    assert relay.send_due() == 0
    assert updates_sent(citysourced) == []


def test_refused_relay_is_retried_in_order_and_sent_once(
    client, vendor_routed, api_key, citysourced
):
    row, report_id = delivered(client, api_key, citysourced)
    citysourced.faults({"operation": "update", "mode": "status", "status": 503})
    now = datetime.now(UTC)
    record(row, NewUpdate("in_progress", now + timedelta(minutes=1), "staff", "s1", "Crew out"))
    record(row, NewUpdate("fixed", now + timedelta(minutes=2), "staff", "s2", "Done"))
    assert [r.vendor_status for r in relays()] == ["In Progress", "Closed"]
    # The first is refused; the second must wait behind it rather than overtake it.
    assert relay.send_due() == 0
    assert [r.state for r in relays()] == [QUEUED, QUEUED]
    assert [r.attempts for r in relays()] == [1, 0]
    for _ in range(100_000):  # backoff is milliseconds (fast_retries): a safety limit only
        relay.send_due()
        if relays()[1].state != QUEUED:
            break
    assert [r.state for r in relays()] == [SENT, SENT]
    assert [(e["outcome"], e.get("status")) for e in updates_sent(citysourced)] == [
        ("fault:status", None),
        ("updated", "In Progress"),
        ("updated", "Closed"),
    ]
    [report] = [r for r in citysourced.records() if r["Id"] == report_id]
    assert report["StatusType"] == "Closed"


def test_unknown_ticket_is_a_dead_letter_not_retried(client, vendor_routed, api_key, citysourced):
    row, _ = delivered(client, api_key, citysourced)
    citysourced.reset()  # the vendor lost the ticket
    record(row, NewUpdate("fixed", datetime.now(UTC) + timedelta(minutes=1), "staff", "s1"))
    assert relay.send_due() == 0
    [dead] = relays()
    assert (dead.state, dead.attempts) == (FAILED, 1)
    assert "Update failed" in (dead.last_error or "")
    assert relay.send_due() == 0
    assert len(updates_sent(citysourced)) == 1


def test_new_notes_without_a_status_are_relayed_and_not_read_back(
    client, vendor_routed, api_key, citysourced
):
    row, report_id = delivered(client, api_key, citysourced)
    now = datetime.now(UTC)
    # Notes on a request that never changed status: relayed with the status it is in.
    record(row, NewUpdate("unchanged", now + timedelta(minutes=1), "staff", "n0", "Seen"))
    record(row, NewUpdate("in_progress", now + timedelta(minutes=2), "staff", "s1", "Crew out"))
    record(row, NewUpdate("unchanged", now + timedelta(minutes=3), "staff", "n1", None))
    response = client.post(
        f"{B}/servicerequestupdates.json",
        data={
            "api_key": api_key,
            "service_request_id": row.service_request_id,
            "update_id": "crew-2",
            "status": "UNCHANGED",
            "updated_datetime": soon(4),
            "description": "Waiting for parts",
        },
    )
    assert response.status_code == 200, response.data
    # A bare "unchanged" with no notes has nothing to tell.
    assert [(r.vendor_status, r.update.description) for r in relays()] == [
        ("Open", "Seen"),
        ("In Progress", "Crew out"),
        ("In Progress", "Waiting for parts"),
    ]
    assert relay.send_due() == 3
    assert [(e["status"], e["notes"]) for e in updates_sent(citysourced)] == [
        ("Open", "Seen"),
        ("In Progress", "Crew out"),
        ("In Progress", "Waiting for parts"),
    ]
    [report] = [r for r in citysourced.records() if r["Id"] == report_id]
    assert (report["StatusType"], report["StatusNotes"]) == ("In Progress", "Waiting for parts")
    # The next poll reads the report back with the status we sent: an echo, not stored.
    [result] = sync_all()
    assert result.counts["stored"] == 0
    [again] = sync_all()
    assert again.counts["stored"] == 0
    db.session.expire_all()
    assert (row.status, row.status_notes) == ("open", "Waiting for parts")
    history = client.get(f"{B}/requests/{row.service_request_id}.json?extensions=true")
    assert len(history.get_json()[0]["extended_attributes"]["updates"]) == 4
