"""Claims: one winner per job, leases that expire, outcomes only from the lease holder."""

from __future__ import annotations

import threading
from datetime import timedelta

from open311 import dispatch
from open311.extensions import db
from tests.dispatch.conftest import jobs, post


def test_only_one_of_many_racing_claims_wins(app, client, routed, api_key):
    post(client, api_key)
    barrier = threading.Barrier(8)
    won = []

    def race():
        with app.app_context():
            barrier.wait()
            won.append(dispatch.claim())
            db.session.remove()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [c for c in won if c is not None]
    assert len(winners) == 1
    assert jobs()[0].attempts == 1


def test_expired_lease_is_taken_over_and_the_late_outcome_ignored(
    client, routed, api_key, department, set_setting
):
    post(client, api_key)
    first = dispatch.claim()
    assert dispatch.claim() is None  # leased
    [job] = jobs()
    job.lease_until = dispatch.now() - timedelta(seconds=1)  # the first worker hung
    db.session.commit()
    second = dispatch.claim()
    assert second is not None
    assert second.lease_token != first.lease_token
    assert dispatch.run(second) == "delivered"
    # The first worker wakes up and finishes: its outcome must not overwrite the new one.
    assert dispatch.run(first) == "delivered"
    [job] = jobs()
    assert (job.state, job.attempts) == ("delivered", 2)
    assert len(department.records()) == 1
