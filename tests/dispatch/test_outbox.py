"""The shared outbox: claims and leases, in-order groups, backoff, dead letter and requeue.

Rows are real relays on both databases; only the send function is a stub (the edge).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from open311 import outbox
from open311.extensions import db
from open311.models import Relay
from open311.updates import NewUpdate, record

T0 = datetime(2026, 11, 2, 15, tzinfo=UTC)


def box(order: outbox.InOrder | None = None, max_attempts: int = 3) -> outbox.Outbox:
    # A refusal waits a minute or so: tests make a row due again by moving next_attempt_at.
    return outbox.Outbox(
        name="test relay",
        model=Relay,
        retries=lambda settings: outbox.Retries(max_attempts, 60.0, 240.0),
        lease=lambda settings: 60.0,
        order=order,
    )


def label(row: Relay) -> str:
    return f"test relay {row.id}"


def sent(row, settings):
    return outbox.Sent()


def refused(row, settings):
    return outbox.Failed("HTTP 503")


@pytest.fixture
def make(seed):
    """``make(n, requests=1)``: n queued relays spread over that many requests, in id order."""

    def maker(count: int, requests: int = 1) -> list[int]:
        rows = [seed(T0) for _ in range(requests)]
        ids = []
        for i in range(count):
            row = rows[i % len(rows)]
            change = record(
                row, NewUpdate("in_progress", T0 + timedelta(hours=i + 1), "t", f"u{i}")
            )
            relay = Relay(
                update=change,
                request_pk=row.id,
                backend="vendor",
                reference=f"R{i}",
                vendor_status="Open",
                state="queued",
                attempts=0,
                next_attempt_at=outbox.now(),
                created_at=outbox.now(),
            )
            db.session.add(relay)
            db.session.commit()
            ids.append(relay.id)
        return ids

    return maker


def get(relay_id: int) -> Relay:
    db.session.expire_all()
    row = db.session.get(Relay, relay_id)
    assert row is not None
    return row


def test_claim_takes_the_oldest_due_row_and_holds_it(app, make):
    first, second = make(2, requests=2)
    won = outbox.claim(box())
    assert won is not None
    assert won.row_id == first
    assert (get(first).attempts, get(first).lease_until) == (1, won.lease_until)
    assert outbox.claim(box(), first) is None  # leased
    assert outbox.claim(box()).row_id == second
    assert outbox.claim(box()) is None


def test_expired_lease_is_claimed_again_and_the_late_outcome_is_ignored(app, make):
    [relay_id] = make(1)
    first = outbox.claim(box())
    row = get(relay_id)
    row.lease_until = outbox.now() - timedelta(seconds=1)  # the first worker hung
    db.session.commit()
    second = outbox.claim(box())
    assert second is not None
    assert second.lease_until != first.lease_until
    assert get(relay_id).attempts == 2
    assert outbox.run(box(), second, refused, label) == "queued"
    # The first worker wakes up: its success must not overwrite its successor's outcome.
    assert outbox.run(box(), first, sent, label) == "queued"
    row = get(relay_id)
    assert (row.state, row.last_error, row.sent_at, row.lease_until) == (
        "queued",
        "HTTP 503",
        None,
        None,
    )


@pytest.mark.postgres_only
def test_racing_claims_on_postgresql_take_distinct_rows(app, make):
    ids = make(8, requests=8)
    start = threading.Barrier(12)

    def contender(_: int) -> outbox.Claim | None:
        with app.app_context():
            start.wait()
            try:
                return outbox.claim(box())
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=12) as pool:
        won = list(pool.map(contender, range(12)))
    winners = sorted(c.row_id for c in won if c is not None)
    assert winners == ids  # every row taken, none twice
    assert {get(i).attempts for i in ids} == {1}


def test_strict_order_sends_one_row_of_a_group_at_a_time(app, make):
    first, other, second = make(3, requests=2)  # the first and the second share a request
    strict = box(outbox.InOrder(("request_pk",)))
    held = outbox.claim(strict)
    assert held.row_id == first
    assert outbox.claim(strict).row_id == other  # another request is not held up
    assert outbox.claim(strict) is None  # the second waits while the first is in flight
    assert outbox.run(strict, held, refused, label) == "queued"
    row = get(first)
    row.next_attempt_at = outbox.now() - timedelta(seconds=1)
    db.session.commit()
    again = outbox.claim(strict)
    assert again.row_id == first  # still the first, never the second ahead of it
    assert outbox.run(strict, again, sent, label) == "sent"
    assert outbox.claim(strict).row_id == second


def test_loose_order_holds_a_group_only_while_its_head_backs_off(app, make):
    ids = make(3)
    loose = box(outbox.InOrder(("request_pk",), strict=False))
    head = outbox.claim(loose)
    assert outbox.claim(loose).row_id == ids[1]  # the head in flight holds nothing up
    assert outbox.run(loose, head, refused, label) == "queued"
    assert get(ids[0]).next_attempt_at > outbox.now()
    assert outbox.claim(loose) is None  # the head backs off: the group is down


def test_dead_letter_after_max_attempts_then_requeue(app, make):
    [relay_id] = make(1)
    two = box(max_attempts=2)
    for expected in ("queued", "failed"):
        won = outbox.claim(two)
        assert outbox.run(two, won, refused, label) == expected
        row = get(relay_id)
        row.next_attempt_at = outbox.now() - timedelta(seconds=1)
        db.session.commit()
    assert outbox.claim(two) is None  # parked
    row = get(relay_id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 2, "HTTP 503")
    assert outbox.requeue(two, relay_id).state == "queued"
    assert get(relay_id).attempts == 0
    with pytest.raises(LookupError, match="is queued, not failed"):
        outbox.requeue(two, relay_id)
    with pytest.raises(LookupError, match="no test relay"):
        outbox.requeue(two, relay_id + 1000)
    won = outbox.claim(two)
    assert outbox.run(two, won, sent, label) == "sent"


def test_refusal_for_good_is_a_dead_letter_at_once(app, make):
    [relay_id] = make(1)
    won = outbox.claim(box())
    gone = outbox.run(box(), won, lambda row, settings: outbox.Failed("gone", False), label)
    assert gone == "failed"
    assert (get(relay_id).attempts, get(relay_id).last_error) == (1, "gone")


def test_send_due_tries_each_due_row_once_per_pass(app, make):
    ids = make(3, requests=3)
    calls = []

    def flaky(row, settings):
        calls.append(row.id)
        return outbox.Failed("busy", retry_after=0.0) if row.id == ids[1] else outbox.Sent()

    assert outbox.send_due(box(), flaky, label) == 2
    assert calls == ids
    assert [get(i).state for i in ids] == ["sent", "queued", "sent"]


RETRIES = outbox.Retries(max_attempts=10, backoff=2.0, backoff_max=60.0)


@pytest.mark.parametrize(
    ("attempts", "full"), [(1, 2.0), (2, 4.0), (4, 16.0), (6, 60.0), (10_000, 60.0)]
)
def test_backoff_is_between_half_and_all_of_the_capped_step(attempts, full):
    delays = {outbox.backoff(attempts, RETRIES) for _ in range(200)}
    assert all(full / 2 <= d <= full for d in delays)
    assert len(delays) > 100  # jittered, not in lock step


def test_backoff_without_a_ceiling_doubles_and_stays_finite():
    open_ended = outbox.Retries(max_attempts=10, backoff=1.0)
    assert all(64.0 <= outbox.backoff(8, open_ended) <= 128.0 for _ in range(50))
    assert outbox.backoff(100_000, open_ended) < float("inf")


def test_retry_after_is_a_floor_up_to_a_day():
    assert outbox.backoff(1, RETRIES, retry_after=300) == 300
    assert outbox.backoff(1, RETRIES, retry_after=10**9) == outbox.RETRY_AFTER_LIMIT
    assert all(1.0 <= outbox.backoff(1, RETRIES, retry_after=0) <= 2.0 for _ in range(20))
