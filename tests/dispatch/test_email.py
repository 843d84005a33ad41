"""Delivering to a department mailbox through a real SMTP server on loopback."""

from __future__ import annotations

import copy
import json
import time

import pytest

from open311 import dispatch
from open311.catalogue import import_catalogue
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import jobs, post, settle


@pytest.fixture
def mail_routed(app, fast_retries, set_setting, mailbox):
    set_setting(adapters=("local", "email"))
    _, controller = mailbox
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {
        "forestry": {
            "adapter": "email",
            "settings": {
                "host": "127.0.0.1",
                "port": controller.port,
                "timeout": 0.5,
                "sender": "gateway@311.aurora.example",
                "to": ["forestry-311@dept.aurora.example"],
                "domain": "311.aurora.example",
            },
        }
    }
    data["services"][0]["backend"] = "forestry"
    import_catalogue(data)
    return data


def test_message_has_summary_json_copy_and_stable_id(client, mail_routed, mailbox, api_key):
    handler, _ = mailbox
    receipt = post(
        client, api_key, description="Branch down", first_name="Pat", email="pat@example.org"
    )
    assert dispatch.work_once() == "delivered"
    [(recipients, message)] = handler.messages
    request_id = receipt["service_request_id"]
    [job] = jobs()
    assert recipients == ["forestry-311@dept.aurora.example"]
    assert message["Message-ID"] == job.reference
    assert message["Message-ID"].startswith(f"<SR-{request_id}.")
    assert message["Subject"] == f"[Aurora 311 #{request_id}] Pothole - S0"
    assert message["X-Aurora311-Request-Id"] == request_id
    text, attachment = list(message.iter_parts())
    assert "Description: Branch down" in text.get_content()
    assert "Reporter: Pat, pat@example.org" in text.get_content()
    copy_ = json.loads(attachment.get_content())
    assert (copy_["service_request_id"], copy_["email"]) == (request_id, "pat@example.org")


def test_temporary_refusal_is_retried_with_the_same_message_id(
    client, mail_routed, mailbox, api_key
):
    handler, _ = mailbox
    handler.replies = ["451 4.3.0 Mailbox busy", "421 4.3.2 Shutting down"]
    post(client, api_key)
    settle()
    [job] = jobs()
    assert (job.state, job.attempts) == ("delivered", 3)
    assert len(handler.messages) == 1


def test_permanent_refusal_goes_to_the_dead_letter(client, mail_routed, mailbox, api_key):
    handler, _ = mailbox
    handler.replies = ["550 5.1.1 No such mailbox"]
    post(client, api_key)
    assert dispatch.work_once() == "failed"
    assert "SMTP 550" in jobs()[0].last_error
    assert handler.messages == []


def test_timeout_after_acceptance_resends_the_same_message_id(
    client, mail_routed, mailbox, api_key
):
    handler, _ = mailbox
    handler.hang_after_storing = 1.5
    post(client, api_key)
    settle()
    [job] = jobs()
    assert job.state == "delivered"
    ids = [message["Message-ID"] for _, message in handler.messages]
    assert len(ids) == 2
    assert ids == [job.reference, job.reference]


def test_server_down_then_back(client, mail_routed, mailbox, api_key, set_setting):
    handler, controller = mailbox
    controller.stop()
    set_setting(dispatch_max_attempts=1000)
    post(client, api_key)
    for _ in range(3):
        dispatch.work_once()
        time.sleep(0.06)
    [job] = jobs()
    assert job.state == "retrying"
    assert "connection refused" in job.last_error
    controller.start()
    settle()
    assert jobs()[0].state == "delivered"
    assert len(handler.messages) == 1
