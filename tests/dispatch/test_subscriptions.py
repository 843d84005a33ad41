"""Apps' subscriptions: signed webhooks to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from open311 import subscriptions
from open311.extensions import db
from open311.hooks import signature
from open311.keys import create_key
from open311.models import Backend, Subscription, SubscriptionDelivery
from open311.models.subscriptions import QUEUED, SENT
from open311.updates import NewUpdate, record

B = "/open311/v2"
T0 = datetime(2026, 11, 2, 15, tzinfo=UTC)
EMAIL, PHONE = "pat.resident@example.org", "630-555-0142"


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps what it is sent; refuses the next N with 500."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refuse = 0
        self.hang = 0.0  # seconds the next accepted webhook waits before its answer
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if owner.refuse:
                    owner.refuse -= 1
                    self.send_response(500)
                else:
                    owner.received.append((dict(self.headers), body))
                    if owner.hang:
                        delay, owner.hang = owner.hang, 0.0
                        time.sleep(delay)  # taken, but the answer comes too late
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(set_setting):
    set_setting(
        subscriptions_allow_private="true", dispatch_backoff=0.001, dispatch_backoff_max=0.002
    )
    running = Receiver()
    yield running
    running.stop()


def subscribe(client, key, **fields):
    return client.post(f"{B}/subscriptions.json", data={"api_key": key, **fields})


def change(row, status, note, hours, ref):
    return record(row, NewUpdate(status, T0 + timedelta(hours=hours), "staff", ref, note))


def deliveries():
    db.session.expire_all()
    query = sa.select(SubscriptionDelivery).order_by(SubscriptionDelivery.id)
    return list(db.session.scalars(query))


def test_one_request_signed_public_fields_only(client, seed, api_key, receiver):
    row = seed(T0, email=EMAIL, phone=PHONE, first_name="Pat")
    response = subscribe(
        client, api_key, callback_url=receiver.url, service_request_id=row.service_request_id
    )
    assert response.status_code == 200, response.data
    [created] = response.get_json()
    secret = created["secret"]
    listed = client.get(f"{B}/subscriptions.json?api_key={api_key}").get_json()
    assert listed == [{k: v for k, v in created.items() if k != "secret"}]
    change(row, "in_progress", "Crew scheduled", 1, "a")
    change(row, "fixed", "Filled", 2, "b")
    assert receiver.received == []  # queued with the change, sent by the worker
    assert subscriptions.send_due() == 2
    assert [b["request_update"]["status"] for b in receiver.bodies()] == ["in_progress", "fixed"]
    headers, body = receiver.received[1]
    assert headers["Webhook-Signature"] == signature(secret, headers["Webhook-Timestamp"], body)
    assert receiver.bodies()[1]["service_request"]["status"] == "closed"
    for _, raw in receiver.received:
        assert EMAIL.encode() not in raw
        assert PHONE.encode() not in raw
        assert b"Pat" not in raw
    assert subscriptions.send_due() == 0
    assert len(receiver.received) == 2


def test_filter_by_service_code_and_bbox(client, seed, api_key, receiver):
    response = subscribe(
        client, api_key, callback_url=receiver.url, service_code="S0", bbox="-88.4,41.7,-88.2,41.8"
    )
    assert response.status_code == 200, response.data
    inside = seed(T0, "S0", lat=41.76, long=-88.32)
    outside = seed(T0, "S0", lat=42.5, long=-88.32)
    other = seed(T0, "S1", lat=41.76, long=-88.32)
    for n, row in enumerate((inside, outside, other)):
        change(row, "fixed", "Done", 1, f"r{n}")
    assert subscriptions.send_due() == 1
    [body] = receiver.bodies()
    assert body["service_request"]["service_request_id"] == inside.service_request_id


def test_refused_webhook_is_retried_in_order_at_least_once(client, seed, api_key, receiver):
    row = seed(T0)
    subscribe(client, api_key, callback_url=receiver.url, service_request_id=row.service_request_id)
    change(row, "in_progress", "Crew", 1, "a")
    change(row, "fixed", "Done", 2, "b")
    receiver.refuse = 2
    assert subscriptions.send_due() == 0  # the first is refused; the second waits behind it
    assert [(d.state, d.attempts) for d in deliveries()] == [(QUEUED, 1), (QUEUED, 0)]
    for _ in range(100_000):  # backoff is milliseconds: a safety limit, not a timing
        subscriptions.send_due()
        if all(d.state == SENT for d in deliveries()):
            break
    assert [b["request_update"]["status"] for b in receiver.bodies()] == ["in_progress", "fixed"]
    assert [d.attempts for d in deliveries()] == [3, 1]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.org/hook",
        "not a url",
    ],
)
def test_private_or_bad_callbacks_are_refused(client, seed, api_key, url):
    row = seed(T0)
    response = subscribe(
        client, api_key, callback_url=url, service_request_id=row.service_request_id
    )
    assert response.status_code == 400
    assert client.get(f"{B}/subscriptions.json?api_key={api_key}").get_json() == []


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"bbox": "1,2,3"},
        {"bbox": "-88,41,-89,42"},
        {"bbox": "a,b,c,d"},
        {"service_code": "NOPE"},
        {"service_code": "S0", "service_request_id": "1"},
    ],
)
def test_bad_input_is_a_400_and_stores_nothing(client, api_key, receiver, catalogue, fields):
    response = subscribe(client, api_key, callback_url=receiver.url, **fields)
    assert response.status_code == 400
    assert response.get_json()[0]["code"] == 400
    assert client.get(f"{B}/subscriptions.json?api_key={api_key}").get_json() == []


def test_delete_stops_webhooks_and_only_the_owner_may(client, seed, api_key, receiver):
    row = seed(T0)
    [created] = subscribe(
        client, api_key, callback_url=receiver.url, service_request_id=row.service_request_id
    ).get_json()
    other = create_key("other app")[1]
    db.session.add(Backend(name="streets", adapter="department", settings={}, updated_at=T0))
    db.session.commit()
    vendor = create_key("vendor", vendor="streets")[1]
    url = f"{B}/subscriptions/{created['subscription_id']}.json"
    assert client.delete(f"{url}?api_key={other}").status_code == 404
    assert client.delete(f"{url}?api_key={vendor}").status_code == 403
    assert (
        subscribe(client, vendor, callback_url=receiver.url, service_code="S0").status_code == 403
    )
    assert client.delete(f"{url}?api_key={api_key}").status_code == 200
    assert client.get(f"{B}/subscriptions.json?api_key={api_key}").get_json() == []
    change(row, "fixed", "Done", 1, "a")
    assert subscriptions.send_due() == 0
    assert receiver.received == []


def test_candidates_are_chosen_in_the_database(client, seed, api_key, receiver):
    """Only the matching subscriptions are loaded: the filter runs in SQL on both databases."""
    inside = seed(T0, "S0", lat=41.76, long=-88.32)
    corner = seed(T0, "S1", lat=41.7, long=-88.4)  # on the box's south-west corner
    nowhere = seed(T0, "S0")  # no point: matches no box
    made = {}
    for name, fields in {
        "one": {"service_request_id": inside.service_request_id},
        "codes": {"service_code": "S0,S1"},
        "s1": {"service_code": "S1"},
        "box": {"bbox": "-88.4,41.7,-88.2,41.8"},
        "s0_box": {"service_code": "S0", "bbox": "-88.4,41.7,-88.2,41.8"},
        "far_box": {"bbox": "-90,40,-89.5,40.5"},
        "gone": {"service_code": "S0"},
    }.items():
        response = subscribe(client, api_key, callback_url=receiver.url, **fields)
        assert response.status_code == 200, response.data
        made[response.get_json()[0]["subscription_id"]] = name
    gone = next(k for k, v in made.items() if v == "gone")
    assert client.delete(f"{B}/subscriptions/{gone}.json?api_key={api_key}").status_code == 200

    def chosen(row):
        return sorted(made[str(s.id)] for s in db.session.scalars(subscriptions.candidates(row)))

    # Stored by hand, as an older release might have: empty lists are no filter at all.
    empty = db.session.get(Subscription, int(next(k for k, v in made.items() if v == "far_box")))
    db.session.add(
        Subscription(
            key_pk=empty.key_pk,
            callback_url=receiver.url,
            secret="x" * 64,
            service_codes=[],
            bbox=[],
            created_at=T0,
        )
    )
    db.session.commit()
    made[str(db.session.scalar(sa.select(sa.func.max(Subscription.id))))] = "empty"
    assert chosen(inside) == ["box", "codes", "empty", "one", "s0_box"]
    assert chosen(corner) == ["box", "codes", "empty", "s1"]
    assert chosen(nowhere) == ["codes", "empty"]
    change(corner, "fixed", "Done", 1, "c")
    delivered = sorted(made[str(d.subscription_pk)] for d in deliveries())
    assert delivered == ["box", "codes", "empty", "s1"]


def test_a_webhook_whose_answer_is_lost_comes_again_with_the_same_ids(
    client, seed, api_key, receiver, monkeypatch
):
    """At least once: the receiver took it but the answer never came; the copy carries the
    same Webhook-Id and event_id, so the receiver can drop it."""
    monkeypatch.setattr(subscriptions, "TIMEOUT", (2.0, 0.3))
    row = seed(T0)
    subscribe(client, api_key, callback_url=receiver.url, service_request_id=row.service_request_id)
    change(row, "fixed", "Done", 1, "a")
    receiver.hang = 1.0
    assert subscriptions.send_due() == 0
    for _ in range(100_000):  # backoff is milliseconds here: a safety limit only
        if subscriptions.send_due():
            break
    [(first, one), (second, two)] = receiver.received
    assert first["Webhook-Id"] == second["Webhook-Id"]
    assert json.loads(one)["event_id"] == json.loads(two)["event_id"] == first["Webhook-Id"]
    assert [d.state for d in deliveries()] == [SENT]
