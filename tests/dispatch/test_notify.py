"""Residents' status e-mails, sent by a worker to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from open311 import notify
from open311.extensions import db
from open311.models import Notification
from open311.updates import NewUpdate, record
from tests.dispatch.conftest import B

T0 = datetime(2026, 11, 2, 15, tzinfo=UTC)
EMAIL = "pat.resident@example.org"


@pytest.fixture
def smtp(mailbox, set_setting):
    handler, server = mailbox
    set_setting(
        notify_smtp_host="127.0.0.1",
        notify_smtp_port=server.port,
        notify_backoff=1e-6,  # retries due at once: no sleeping in tests
        public_url="http://gateway.test",
    )
    return handler


def change(row, status, note, hours, ref):
    return record(row, NewUpdate(status, T0 + timedelta(hours=hours), "backend:d", ref, note))


def notifications():
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


def test_one_message_per_visible_change_sent_by_the_worker(smtp, seed, caplog):
    caplog.set_level(logging.DEBUG, logger="open311")
    row = seed(T0, email=EMAIL, phone="630-555-0142")
    change(row, "in_progress", "Crew scheduled for Thursday.", 1, "a")
    change(row, "fixed", "Filled the hole.", 2, "b")
    assert smtp.messages == []  # queued, not sent by whoever recorded the change
    assert notify.send_due() == 2
    assert [rcpt for rcpt, _ in smtp.messages] == [[EMAIL], [EMAIL]]
    first, second = (m for _, m in smtp.messages)
    assert first["Subject"] == f"Your 311 request {row.service_request_id}: in progress"
    assert "Crew scheduled for Thursday." in first.get_content()
    assert "Filled the hole." in second.get_content()
    assert "http://gateway.test/notifications/unsubscribe/" in second.get_content()
    assert first["Message-ID"] != second["Message-ID"]
    assert notify.send_due() == 0
    assert len(smtp.messages) == 2
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("open311")]
    assert not any(EMAIL in line for line in ours)
    assert "630-555-0142" not in first.as_string()


def test_no_message_for_changes_the_reporter_cannot_see(smtp, seed):
    row = seed(T0, email=EMAIL)
    change(row, "in_progress", "Crew", 2, "a")
    change(row, "investigating", "Older", 1, "late")  # history only
    record(row, NewUpdate(None, T0 + timedelta(hours=3), "backend:d", "odd", raw_status="x"))
    change(row, "in_progress", "Crew", 4, "same")  # same status, same notes
    assert len(notifications()) == 1
    silent = seed(T0)  # no e-mail given
    change(silent, "fixed", "Done", 1, "s")
    assert len(notifications()) == 1


def test_refused_message_is_retried_and_never_duplicated(smtp, seed):
    row = seed(T0, email=EMAIL)
    change(row, "fixed", "Done", 1, "a")
    smtp.replies = ["451 4.3.0 Try again later", "452 4.3.1 Insufficient storage"]
    assert notify.send_due() == 0
    assert notify.send_due() == 0
    [waiting] = notifications()
    assert (waiting.state, waiting.attempts) == ("queued", 2)
    assert notify.send_due() == 1
    assert notify.send_due() == 0
    assert len(smtp.messages) == 1
    [sent] = notifications()
    assert (sent.state, sent.attempts) == ("sent", 3)


def test_gives_up_after_the_configured_attempts(smtp, seed, set_setting):
    set_setting(notify_max_attempts=2)
    row = seed(T0, email=EMAIL)
    change(row, "fixed", "Done", 1, "a")
    smtp.replies = ["550 5.1.1 No such user"] * 3
    notify.send_due()
    notify.send_due()
    assert notify.send_due() == 0
    [given_up] = notifications()
    assert (given_up.state, given_up.attempts) == ("failed", 2)
    assert smtp.messages == []


def test_unsubscribe_link_works_and_a_fetch_alone_does_not(smtp, seed, client):
    row = seed(T0, email=EMAIL)
    change(row, "in_progress", "Crew", 1, "a")
    notify.send_due()
    [(_, mail)] = smtp.messages
    link = next(w for w in mail.get_content().split() if "/notifications/unsubscribe/" in w)
    path = link.removeprefix("http://gateway.test")
    assert client.get(path).status_code == 200  # a mail scanner's fetch
    change(row, "fixed", "Done", 2, "b")
    assert len(notifications()) == 2
    assert client.post(path).status_code == 200
    change(row, "reopen", "Again", 3, "c")
    assert len(notifications()) == 2
    assert notify.send_due() == 0  # the queued one was withdrawn too
    assert len(smtp.messages) == 1
    assert client.post("/notifications/unsubscribe/not-a-token").status_code == 404


def test_update_posted_through_the_api_is_mailed_by_the_worker(smtp, seed, client, api_key):
    row = seed(T0, email=EMAIL)
    response = client.post(
        f"{B}/servicerequestupdates.json",
        data={
            "api_key": api_key,
            "service_request_id": row.service_request_id,
            "update_id": "fms-1",
            "status": "FIXED",
            "updated_datetime": "2026-11-02T16:00:00Z",
            "description": "Fixed by the crew",
        },
    )
    assert response.status_code == 200
    assert smtp.messages == []
    assert notify.send_due() == 1
    assert "Fixed by the crew" in smtp.messages[0][1].get_content()


def test_a_message_sent_twice_carries_the_same_message_id(smtp, seed, mailbox, monkeypatch):
    """At least once: the server stores the message but its answer never comes; the retry
    is a copy the receiver can recognise by its Message-ID."""
    monkeypatch.setattr(notify, "SMTP_TIMEOUT", 0.3)
    row = seed(T0, email=EMAIL)
    change(row, "fixed", "Done", 1, "a")
    smtp.hang_after_storing = 1.0  # past the client's timeout
    assert notify.send_due() == 0
    for _ in range(500):  # the server is busy until its hang ends: a safety limit only
        if notify.send_due():
            break
        time.sleep(0.01)
    first, second = (m for _, m in smtp.messages)
    assert first["Message-ID"] == second["Message-ID"]
    [sent] = notifications()
    digest = hashlib.sha256(sent.token.encode()).hexdigest()[:16]
    assert first["Message-ID"] == f"<status-{sent.id}.{digest}@aurora.il.us>"
    assert sent.token not in first["Message-ID"]  # the unsubscribe secret stays secret
