"""procrastinate on PostgreSQL: each delivery job is also a queue job, deferred in the
transaction that stores the request.

The ``dispatch_jobs`` table stays the record of where each request stands (claims, order,
backoff, dead letter, visibility: :mod:`open311.dispatch`); procrastinate adds what a
PostgreSQL queue does best. Its job row is written on the request's own connection, so the
request and its queue job are committed together or not at all, and its workers are woken
by LISTEN/NOTIFY the moment the transaction commits, on any number of machines. Retries after
a failure, and jobs whose worker died (procrastinate would call them stalled), are picked up
by the sweep that every ``open311 worker`` also runs over ``dispatch_jobs``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from flask import Flask
from procrastinate import App, PsycopgConnector
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector
from procrastinate.exceptions import ConnectorException
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from open311.extensions import db
from open311.models import DispatchJob

log = logging.getLogger(__name__)

QUEUE = "open311-dispatch"
TASK = "open311.deliver"
SYNC_TASK = "open311.sync"
#: procrastinate's cron for the status sync: every minute, deferred by whichever worker's
#: periodic deferrer gets there first (procrastinate makes the deferral unique per minute).
#: Each run polls only the back ends whose OPEN311_SYNC_INTERVAL has elapsed (open311.sync).
SYNC_CRON = "* * * * *"
#: Seconds before procrastinate's worker is started again after it stopped on a database
#: outage, doubling on each failed start up to the maximum.
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 5.0

#: Deferring only ever uses the request's own connection, so this connector is never opened.
queue_app = App(connector=SQLAlchemyPsycopg2Connector())
_flask_app: Flask | None = None


@queue_app.task(name=TASK, queue=QUEUE)
def deliver_task(dispatch_job_id: int) -> None:
    """Attempt one delivery job now (a no-op if another worker has it or it is done)."""
    from open311 import dispatch

    assert _flask_app is not None, "the worker sets the Flask app before running tasks"
    with _flask_app.app_context():
        try:
            dispatch.work_on(dispatch_job_id)
        finally:
            db.session.remove()


def sync_task(timestamp: int) -> None:
    """One pass of the status sync over the back ends that are due (scheduled each minute).

    Registered by :class:`QueueWorker` on the worker's own app: procrastinate's periodic
    deferrer defers through the app its task is bound to, which must be the asynchronous
    one (the request-side app above only ever defers on a request's connection).
    """
    from open311.worker import sync_pass

    assert _flask_app is not None, "the worker sets the Flask app before running tasks"
    with _flask_app.app_context():
        # Every minute, but each back end only once its OPEN311_SYNC_INTERVAL has elapsed.
        sync_pass(due_only=True)


def uses_queue() -> bool:
    """Whether this gateway's database is PostgreSQL (procrastinate needs it)."""
    return bool(db.engine.dialect.name == "postgresql")


def defer(job: DispatchJob) -> None:
    """Add the queue job of ``job`` to the current transaction (PostgreSQL only)."""
    if not uses_queue():
        return
    db.session.flush()  # the job needs its id
    try:
        deliver_task.configure(connection=db.session.connection()).defer(dispatch_job_id=job.id)
    except ConnectorException as exc:
        # procrastinate wraps the database's own error: give it back, so that a lost
        # database is answered 503 like anywhere else, not 500.
        if isinstance(exc.__cause__, DBAPIError):
            raise exc.__cause__ from exc
        raise


def conninfo(database_url: str) -> str:
    """A psycopg 3 connection string for the gateway's SQLAlchemy URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class QueueWorker:
    """procrastinate's worker for the dispatch queue, in a thread of ``open311 worker``."""

    def __init__(self, app: Flask) -> None:
        """Bind to the Flask app whose database holds the queue."""
        global _flask_app
        _flask_app = app
        url = app.extensions["open311"]["settings"].database_url
        self.app = queue_app.with_connector(PsycopgConnector(conninfo=conninfo(url)))
        if SYNC_TASK not in self.app.tasks:
            task = self.app.task(name=SYNC_TASK, queue=QUEUE, queueing_lock=SYNC_TASK)(sync_task)
            self.app.periodic(cron=SYNC_CRON)(task)
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[Any] | None = None
        self.thread = threading.Thread(target=self._run, name="procrastinate", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            # procrastinate stops its worker when the database goes away (its listener
            # fails); the sweep alone would still deliver, but late, so start it again.
            delay = RESTART_DELAY
            while True:
                started = time.monotonic()
                try:
                    async with self.app.open_async():
                        await self.app.run_worker_async(
                            queues=[QUEUE], wait=True, install_signal_handlers=False, concurrency=1
                        )
                except Exception as exc:
                    log.warning("procrastinate worker stopped (%s)", type(exc).__name__)
                if time.monotonic() - started > RESTART_DELAY_MAX:
                    delay = RESTART_DELAY  # it had been running well: a fresh outage
                log.warning("restarting the procrastinate worker in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_DELAY_MAX)

        self.task = self.loop.create_task(main())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("procrastinate worker stopped")
        finally:
            self.loop.close()

    def start(self) -> None:
        """Start listening for queue jobs."""
        self.thread.start()

    def stop(self) -> None:
        """Stop after the job in hand, and wait for the thread."""
        if self.task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=60)
