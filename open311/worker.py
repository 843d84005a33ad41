"""Running delivery jobs: ``open311 worker`` and the in-process dispatcher of SQLite.

Any number of workers may run, on any number of machines sharing the database: each job is
claimed by a conditional update that only one of them can win (see :mod:`open311.dispatch`).
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from open311 import dispatch
from open311.extensions import db

log = logging.getLogger(__name__)


def run_worker(app: Flask, stop: threading.Event, *, poll: float | None = None) -> int:
    """Deliver due jobs until ``stop`` is set; returns how many attempts were made.

    Between attempts it keeps going while there is work and sleeps ``poll`` seconds (the
    ``OPEN311_DISPATCH_POLL`` setting by default) when there is none.
    """
    attempts = 0
    with app.app_context():
        wait = poll if poll is not None else app.extensions["open311"]["settings"].dispatch_poll
        while not stop.is_set():
            try:
                state = dispatch.work_once()
            except Exception:  # the database may be restarting; never let the loop die
                log.exception("dispatch worker iteration failed")
                db.session.rollback()
                state = None
            finally:
                db.session.remove()
            if state is None:
                stop.wait(wait)
            else:
                attempts += 1
    return attempts


def run_worker_with_queue(app: Flask, stop: threading.Event, *, poll: float | None = None) -> int:
    """``open311 worker``: on PostgreSQL, procrastinate's worker plus the sweep; else the sweep.

    procrastinate runs each request's queue job as soon as it is committed; the sweep
    (:func:`run_worker`) takes retries, jobs left by dead workers, and anything else due.
    """
    from open311.queue import QueueWorker

    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    if not postgres:
        return run_worker(app, stop, poll=poll)
    queue_worker = QueueWorker(app)
    queue_worker.start()
    try:
        return run_worker(app, stop, poll=poll)
    finally:
        queue_worker.stop()


def start_background(app: Flask) -> tuple[threading.Thread, threading.Event]:
    """Start the in-process dispatcher: a daemon thread running :func:`run_worker`."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker, args=(app, stop), name="open311-dispatcher", daemon=True
    )
    thread.start()
    return thread, stop
