"""One outbox for every message a worker sends: claim, send, then finish or fail.

Dispatch jobs (:mod:`open311.dispatch`), residents' e-mails (:mod:`open311.notify`),
CitySourced relays (:mod:`open311.relay`) and apps' webhooks (:mod:`open311.subscriptions`)
are all rows written in the transaction that makes them necessary and sent later by a
worker. Each describes itself with an :class:`Outbox` (its model, states, order, lease and
retry settings) and a send function; the rest is here:

- :func:`claim` wins a due row with one conditional ``UPDATE ... RETURNING`` that only one
  of any number of racing workers can win, and a lease: a worker that dies leaves a lease
  that expires, and the row is taken again. On PostgreSQL the row is picked ``FOR UPDATE
  SKIP LOCKED``, so racing workers step past each other's rows instead of queueing on them.
- :func:`run` sends a claimed row and writes the outcome only while the lease is still
  held, so a worker that overran its lease never overwrites its successor's outcome.
- A refusal backs off exponentially with jitter (:func:`backoff`); a row whose attempts are
  exhausted, or that was refused for good, is parked as failed (the dead letter) until
  :func:`requeue` gives it a fresh round.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, func, or_, select, tuple_, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased

from open311.config import Settings
from open311.extensions import db
from open311.redact import redact

log = logging.getLogger(__name__)

#: How much of an error text is kept; bodies can be whole HTML pages.
ERROR_LIMIT = 500
#: The longest ``Retry-After`` honoured, in seconds.
RETRY_AFTER_LIMIT = 86400.0
#: How long, at most, a worker keeps an outcome it could not write (database down).
OUTCOME_RETRY_LIMIT = 60.0
#: How long a worker holds a message unless its outbox says otherwise.
LEASE = timedelta(minutes=2)
#: Doublings beyond this are far above any maximum; the cut keeps the arithmetic finite.
MAX_DOUBLINGS = 60


class NoSuchRow(LookupError):
    """:func:`requeue` was given the id of no row."""


class NotFailed(LookupError):
    """:func:`requeue` was given a row that is not parked as failed; ``state`` is its state."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


def now() -> datetime:
    """Now in UTC with microseconds: backoff in tests is measured in milliseconds."""
    return datetime.now(UTC)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["open311"]["settings"]
    return settings


@dataclass(frozen=True)
class Retries:
    """How often, and how patiently, a refused send is tried again."""

    max_attempts: int
    backoff: float
    #: The longest wait between attempts; ``None`` lets it double without a ceiling.
    backoff_max: float | None = None


def dispatch_retries(settings: Settings) -> Retries:
    """``OPEN311_DISPATCH_MAX_ATTEMPTS``, ``_BACKOFF`` and ``_BACKOFF_MAX``: the back ends'
    patience, also used for what is relayed to them and for apps' webhooks."""
    return Retries(
        settings.dispatch_max_attempts, settings.dispatch_backoff, settings.dispatch_backoff_max
    )


def default_lease(settings: Settings) -> float:
    """:data:`LEASE`, in seconds: ample for one e-mail, relay or webhook."""
    return LEASE.total_seconds()


@dataclass(frozen=True)
class InOrder:
    """Rows that share the ``group`` columns are sent oldest first.

    ``strict``: a row waits until every older pending row of its group is sent or given up,
    so one group sends one row at a time. Otherwise a group waits only while its oldest
    pending row waits out a backoff (the receiver is down); due rows behind a row in flight
    may be sent side by side.
    """

    group: tuple[str, ...]
    strict: bool = True


@dataclass(frozen=True)
class Outbox:
    """What one kind of outgoing row is: its model and states, order, lease and retries.

    The default states and columns are those of
    :class:`~open311.models.outbox.TrackedSend`.
    """

    #: Used in logs and errors, e.g. ``"dispatch job"``.
    name: str
    model: type[Any]
    retries: Callable[[Settings], Retries] = dispatch_retries
    #: Seconds a worker holds a claimed row before another may take it.
    lease: Callable[[Settings], float] = default_lease
    order: InOrder | None = None
    pending: tuple[str, ...] = ("queued",)
    #: The state a row is left in after a refusal that will be tried again.
    retrying: str = "queued"
    sent: str = "sent"
    failed: str = "failed"
    sent_column: str = "sent_at"

    def has(self, column: str) -> bool:
        """Whether the model has ``column`` (``lease_token``, ``updated_at``)."""
        return column in self.model.__table__.c


@dataclass(frozen=True)
class Claim:
    """A row won by one worker, with the lease that proves it.

    The lease token is a random string where the table has a ``lease_token`` column;
    elsewhere the claim's own ``lease_until`` serves (every claim writes a later one).
    """

    row_id: int
    lease_until: datetime
    lease_token: str | None = None


@dataclass(frozen=True)
class Sent:
    """A send the receiver took: ``values`` are written with the outcome, and ``after`` runs
    in the same transaction once the lease proved still held."""

    values: dict[str, Any] = field(default_factory=dict)
    after: Callable[[], None] | None = None


@dataclass(frozen=True)
class Failed:
    """A send that did not go through; ``retryable=False`` parks it at once."""

    error: str
    retryable: bool = True
    retry_after: float | None = None


def backoff(attempts: int, retries: Retries, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts: exponential, with jitter.

    Half the delay is fixed and half random ("equal jitter"), so a crowd of rows failed by
    one outage does not come back in lock step; a receiver's ``Retry-After`` is a floor
    (up to a day), even above ``retries.backoff_max``.
    """
    delay = retries.backoff * 2.0 ** min(max(attempts - 1, 0), MAX_DOUBLINGS)
    if retries.backoff_max is not None:
        delay = min(delay, retries.backoff_max)
    delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not secrecy
    if retry_after is not None:
        # The receiver knows best when it will be back; only absurd values are cut down.
        delay = max(delay, min(retry_after, RETRY_AFTER_LIMIT))
    return delay


def _due(box: Outbox, row: Any, at: datetime) -> list[ColumnElement[bool]]:
    # ``row``: the model or an alias of it. Pending, due, and not leased to a live worker.
    free = or_(row.lease_until.is_(None), row.lease_until < at)
    return [row.state.in_(box.pending), row.next_attempt_at <= at, free]


def _older_pending(box: Outbox, row: Any, group: tuple[str, ...]) -> ColumnElement[bool]:
    # An older row of the same group still to be sent: strict order makes this one wait.
    older = aliased(box.model)
    same = [getattr(older, name) == getattr(row, name) for name in group]
    return select(older.id).where(*same, older.state.in_(box.pending), older.id < row.id).exists()


def _blocked_groups(box: Outbox, group: tuple[str, ...], at: datetime) -> set[tuple[Any, ...]]:
    # A group whose oldest pending row is waiting out a backoff is down: keep the order.
    model = box.model
    columns = [getattr(model, name) for name in group]
    heads = select(func.min(model.id)).where(model.state.in_(box.pending)).group_by(*columns)
    query = select(*columns).where(model.id.in_(heads), model.next_attempt_at > at)
    return {tuple(row) for row in db.session.execute(query)}


def _lease(box: Outbox, at: datetime, where: list[ColumnElement[bool]]) -> Claim | None:
    # One conditional UPDATE ... RETURNING: of racing workers, only one can win a row.
    model = box.model
    lease_until = at + timedelta(seconds=box.lease(_settings()))
    token = uuid.uuid4().hex if box.has("lease_token") else None
    values: dict[str, Any] = {"lease_until": lease_until, "attempts": model.attempts + 1}
    if token is not None:
        values["lease_token"] = token
    if box.has("updated_at"):
        values["updated_at"] = at
    row_id = db.session.scalar(
        update(model)
        .where(*where)
        .values(**values)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return None if row_id is None else Claim(row_id, lease_until, token)


def take(box: Outbox, row_id: int, at: datetime, *conditions: ColumnElement[bool]) -> Claim | None:
    """Claim row ``row_id`` if it still meets ``conditions`` (by default: pending, due and
    free), whatever its order; commits."""
    model = box.model
    return _lease(box, at, [model.id == row_id, *(conditions or _due(box, model, at))])


def claim(box: Outbox, row_id: int | None = None) -> Claim | None:
    """Win the oldest due row that its order lets go (or row ``row_id``); commits; ``None``
    when there is none to take now."""
    model, order, stamp = box.model, box.order, now()
    row = aliased(model)  # the pick must not correlate with the table being updated
    pick = select(row.id).where(*_due(box, row, stamp)).order_by(row.id).limit(1)
    if row_id is not None:
        pick = pick.where(row.id == row_id)
    if order is not None and order.strict:
        pick = pick.where(~_older_pending(box, row, order.group))
    elif order is not None:
        blocked = _blocked_groups(box, order.group, stamp)
        if blocked:
            pick = pick.where(tuple_(*(getattr(row, n) for n in order.group)).not_in(blocked))
    db.session.rollback()  # SQLite: end any read transaction before the write
    # PostgreSQL: a row another worker is claiming right now is stepped over, not fought for.
    pick = pick.with_for_update(skip_locked=True, of=row)
    return _lease(box, stamp, [model.id == pick.scalar_subquery(), *_due(box, model, stamp)])


def finish(box: Outbox, won: Claim, **values: Any) -> bool:
    """Write an outcome while the lease is ours (not committed); ``False`` if it was lost.

    A worker that overran its lease must not overwrite the outcome of the worker that took
    the row over.
    """
    model = box.model
    values["lease_until"] = None
    if won.lease_token is not None:
        values["lease_token"] = None
        held = model.lease_token == won.lease_token
    else:
        held = model.lease_until == won.lease_until
    if box.has("updated_at"):
        values["updated_at"] = now()
    result = db.session.execute(
        update(model)
        .where(model.id == won.row_id, held)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def fail(box: Outbox, won: Claim, attempts: int, label: str, failure: Failed) -> str:
    """Record a failed attempt: back off and try again, or park the row in the dead letter
    once it was refused for good or used its attempts. Commits; returns the new state."""
    db.session.rollback()
    message = redact(failure.error)[:ERROR_LIMIT]  # a vendor's words may quote a resident
    retries = box.retries(_settings())
    values: dict[str, Any] = {"last_error": message}
    if failure.retryable and attempts < retries.max_attempts:
        delay = backoff(attempts, retries, failure.retry_after)
        values.update(state=box.retrying, next_attempt_at=now() + timedelta(seconds=delay))
        log.warning("%s failed, retrying in %.1fs: %s", label, delay, message)
    else:
        values["state"] = box.failed
        log.error("%s failed for good: %s", label, message)
    finish(box, won, **values)
    db.session.commit()
    return str(values["state"])


def run(
    box: Outbox,
    won: Claim,
    send: Callable[[Any, Settings], Sent | Failed],
    label: Callable[[Any], str],
) -> str:
    """Make one attempt at a claimed row with ``send``; returns the row's new state.

    ``label`` names the row in the log: never personal data, never a secret.
    """
    row = db.session.get(box.model, won.row_id, populate_existing=True)
    assert row is not None
    name = label(row)
    outcome = send(row, _settings())
    if isinstance(outcome, Failed):
        return _record(name, partial(fail, box, won, row.attempts, name, outcome))
    return _record(name, partial(_sent, box, won, row, outcome, name))


def _record(label: str, write: Callable[[], str]) -> str:
    # The other side has answered; losing that answer to a database outage would leave the
    # row leased (minutes) before anyone tries again. Keep the outcome and write it once the
    # database is back (the lease token still guards it against a worker that took over).
    deadline = time.monotonic() + OUTCOME_RETRY_LIMIT
    delay = 0.25
    while True:
        try:
            return write()
        except OperationalError:
            db.session.rollback()
            # SQLite's "database is locked" is contention, not an outage: no waiting there.
            if db.engine.dialect.name != "postgresql" or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "could not record the outcome of %s (database unreachable), again in %.1fs",
                label,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _sent(box: Outbox, won: Claim, row: Any, outcome: Sent, name: str) -> str:
    values = {box.sent_column: now(), **outcome.values}
    if not finish(box, won, state=box.sent, **values):
        db.session.rollback()
        log.warning("%s finished after its lease was lost", name)
        return str(row.state)
    if outcome.after is not None:
        outcome.after()
    db.session.commit()
    log.info("%s sent", name)
    return box.sent


def send_due(
    box: Outbox,
    send: Callable[[Any, Settings], Sent | Failed],
    label: Callable[[Any], str],
    limit: int = 50,
) -> int:
    """Attempt each row due now once, oldest first, as its order allows; returns how many
    were sent. A row refused now waits for a later pass, however short its backoff."""
    model = box.model
    due = db.session.scalars(
        select(model.id)
        .where(model.state.in_(box.pending), model.next_attempt_at <= now())
        .order_by(model.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    sent = 0
    for row_id in due:
        won = claim(box, row_id)
        if won is not None:
            sent += run(box, won, send, label) == box.sent
    return sent


def requeue(box: Outbox, row_id: int) -> Any:
    """Give a parked row a fresh round of attempts; commits and returns it.

    :raises NoSuchRow: when there is no such row.
    :raises NotFailed: when it has not failed.
    """
    row = db.session.get(box.model, row_id)
    if row is None:
        raise NoSuchRow(f"no {box.name} {row_id}")
    if row.state != box.failed:
        raise NotFailed(f"{box.name} {row_id} is {row.state}, not failed", row.state)
    stamp = now()
    row.state, row.attempts, row.next_attempt_at = box.pending[0], 0, stamp
    if box.has("updated_at"):
        row.updated_at = stamp
    db.session.commit()
    return row
