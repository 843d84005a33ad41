"""Running delivery jobs: ``open311 worker`` and the in-process dispatcher of SQLite.

Any number of workers may run, on any number of machines sharing the database: each job is
claimed by a conditional update that only one of them can win (see :mod:`open311.dispatch`).
Without PostgreSQL (so without procrastinate's periodic tasks) the same loop also polls the
back ends for status changes every ``OPEN311_SYNC_INTERVAL`` seconds (:mod:`open311.sync`).
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from open311 import dispatch
from open311.extensions import db

log = logging.getLogger(__name__)

#: The longest wait, in seconds, between attempts while the database cannot be reached.
FAILURE_BACKOFF_MAX = 5.0


def _log_failure(exc: Exception, failures: int) -> None:
    # The first failure of a run with its traceback; the rest of an outage in one line each.
    if failures == 1:
        log.exception("dispatch worker iteration failed")
    else:
        log.warning("dispatch worker iteration failed again (%d): %s", failures, type(exc).__name__)


def sync_pass(*, due_only: bool = False) -> None:
    """One pass of the status sync, logged; never raises (the next period tries again).

    ``due_only`` polls only the back ends whose interval has elapsed (the periodic task).
    """
    from open311.sync import sync_all

    try:
        for result in sync_all(due_only=due_only):
            log.info("sync %s", result.line())
    except Exception:  # a back end or the database may be down; try again next period
        log.exception("status sync failed")
        db.session.rollback()
    finally:
        db.session.remove()


def send_notifications() -> None:
    """Send residents' due status e-mails; never raises (the next idle moment tries again)."""
    from open311 import notify, relay, subscriptions

    try:
        notify.send_due()
        relay.send_due()  # changes made elsewhere, told to CitySourced
        subscriptions.send_due()  # apps' webhooks
    except Exception:
        log.exception("sending notifications failed")
        db.session.rollback()
    finally:
        db.session.remove()


def run_worker(
    app: Flask, stop: threading.Event, *, poll: float | None = None, sync: bool = False
) -> int:
    """Deliver due jobs until ``stop`` is set; returns how many attempts were made.

    Between attempts it keeps going while there is work and sleeps ``poll`` seconds (the
    ``OPEN311_DISPATCH_POLL`` setting by default) when there is none, after sending the
    residents' due status e-mails (:mod:`open311.notify`). With ``sync`` it also
    runs a pass of :func:`open311.sync.sync_all` every ``OPEN311_SYNC_INTERVAL`` seconds.
    """
    attempts = 0
    with app.app_context():
        settings = app.extensions["open311"]["settings"]
        wait = poll if poll is not None else settings.dispatch_poll
        next_sync = time.monotonic()
        failures = 0
        while not stop.is_set():
            if sync and time.monotonic() >= next_sync:
                sync_pass()
                next_sync = time.monotonic() + settings.sync_interval
            try:
                state = dispatch.work_once()
            except Exception as exc:  # the database may be restarting; never let the loop die
                failures += 1
                _log_failure(exc, failures)
                db.session.rollback()
                # Back off while it lasts, without waiting much longer than an idle poll.
                stop.wait(min(wait * 2**failures, max(wait, FAILURE_BACKOFF_MAX)))
                continue
            finally:
                db.session.remove()
            failures = 0
            if state is None:
                send_notifications()
                stop.wait(min(wait, settings.sync_interval) if sync else wait)
            else:
                attempts += 1
    return attempts


def run_worker_with_queue(app: Flask, stop: threading.Event, *, poll: float | None = None) -> int:
    """``open311 worker``: on PostgreSQL, procrastinate's worker plus the sweep; else the sweep.

    procrastinate runs each request's queue job as soon as it is committed, and the status
    sync as a periodic task; the sweep (:func:`run_worker`) takes retries, jobs left by dead
    workers, and anything else due. Without PostgreSQL the sweep also runs the sync.
    """
    from open311.queue import QueueWorker

    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    if not postgres:
        return run_worker(app, stop, poll=poll, sync=True)
    queue_worker = QueueWorker(app)
    queue_worker.start()
    try:
        return run_worker(app, stop, poll=poll)
    finally:
        queue_worker.stop()


def start_background(app: Flask) -> tuple[threading.Thread, threading.Event]:
    """Start the in-process dispatcher: a daemon thread running :func:`run_worker`, which
    also polls the back ends for status changes."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(app, stop),
        kwargs={"sync": True},
        name="open311-dispatcher",
        daemon=True,
    )
    thread.start()
    return thread, stop
