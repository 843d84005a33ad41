"""The issue's acceptance path: a request goes out, comes back in progress and closed."""

from __future__ import annotations

import threading

import requests

from open311.keys import create_key
from open311.models import DispatchJob
from open311.worker import run_worker
from tests.dispatch.conftest import B, jobs, post
from tests.dispatch.test_workers import wait_for

PHONE = "630-555-0177"
EMAIL = "resident@example.org"


def test_request_delivered_progressed_closed_and_told(
    app, client, routed, api_key, department, mailbox, set_setting
):
    handler, server = mailbox
    set_setting(
        sync_interval=0.05,
        notify_smtp_host="127.0.0.1",
        notify_smtp_port=server.port,
        public_url="http://gateway.test",
    )
    receipt = post(client, api_key, phone=PHONE, email=EMAIL, description="Deep pothole")
    rid = receipt["service_request_id"]
    halt = threading.Event()
    worker = threading.Thread(
        target=run_worker, args=(app, halt), kwargs={"poll": 0.02, "sync": True}, daemon=True
    )
    worker.start()

    def detail():
        [row] = client.get(f"{B}/requests/{rid}.json").get_json()
        return row["status"], row["status_notes"]

    try:
        wait_for(lambda: bool(jobs()[0].reference))
        ref: str = jobs()[0].reference
        for status, note, seen in (
            ("in_progress", "Crew scheduled for Thursday.", "open"),
            ("completed", "Filled the pothole.", "closed"),
        ):
            requests.post(
                f"{department.url}/_sim/records/{ref}/status",
                json={"status": status, "public_note": note},
                timeout=5,
            ).raise_for_status()
            wait_for(lambda seen=seen, note=note: detail() == (seen, note))
        wait_for(lambda: len(handler.messages) == 2)
    finally:
        halt.set()
        worker.join(timeout=30)

    listed = client.get(f"{B}/servicerequestupdates.json").get_json()
    assert [(u["service_request_id"], u["status"]) for u in listed][-2:] == [
        (rid, "in_progress"),
        (rid, "fixed"),
    ]
    bodies = [message.get_content() for _, message in handler.messages]
    assert "Crew scheduled for Thursday." in bodies[0]
    assert "Filled the pothole." in bodies[1]
    assert all(rcpt == [EMAIL] for rcpt, _ in handler.messages)

    vendor_key = create_key("streets portal", vendor="streets")[1]
    [mine] = client.get(f"{B}/requests.json?api_key={vendor_key}").get_json()
    assert mine["phone"] == PHONE
    public = client.get(f"{B}/requests.json").data.decode()
    assert PHONE not in public
    assert EMAIL not in public
    assert DispatchJob.query.count() == 1
