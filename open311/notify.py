"""Telling residents by e-mail when their request changes, and letting them stop it.

A message is queued (a :class:`~open311.models.Notification`) in the transaction that
applies a change the reporter can see, a new public status or new public notes, and only
when the reporter gave an e-mail address and has not unsubscribed. Workers send due messages
outside any web request (:func:`send_due`), claiming each with a lease so that two workers
never send the same one; a refusal is retried with backoff; a message the server accepted is
never sent again. Addresses never appear in the log. Delivery is at least once (an SMTP
answer can be lost after the server took the message); every attempt carries the same
``Message-ID``, so a copy can be recognised and dropped.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import select, update

from open311 import outbox
from open311.clock import utcnow
from open311.config import Settings
from open311.extensions import db
from open311.models import Notification, OptOut, RequestUpdate, ServiceRequest
from open311.models.notifications import FAILED, QUEUED

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 10.0


def now() -> datetime:
    """Now with microseconds: backoff in tests is measured in milliseconds."""
    return datetime.now(UTC)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["open311"]["settings"]
    return settings


def wanted(row: ServiceRequest) -> bool:
    """Whether a visible change to ``row`` should be e-mailed to its reporter."""
    if not _settings().notify_smtp_host or not row.email:
        return False
    opted_out = select(OptOut.id).where(OptOut.request_pk == row.id)
    return db.session.scalar(opted_out) is None


def queue(update_row: RequestUpdate) -> Notification:
    """Add the message about ``update_row`` to the current transaction (not committed)."""
    stamp = now()
    notification = Notification(
        update=update_row,
        token=secrets.token_urlsafe(24),
        state=QUEUED,
        attempts=0,
        next_attempt_at=stamp,
        created_at=stamp,
    )
    db.session.add(notification)
    return notification


def message_id(notification: Notification, settings: Settings) -> str:
    """The ``Message-ID`` of ``notification``, the same on every attempt to send it.

    Sending is at least once: a server that took the message but whose answer was lost gets
    it again, and the same id lets mail systems (and the resident's client) drop the copy.
    It is made of the notification's id and a digest of its token (the token itself is the
    unsubscribe secret), at the sender's domain.
    """
    domain = parseaddr(settings.notify_from)[1].rpartition("@")[2] or "open311.local"
    digest = hashlib.sha256(notification.token.encode()).hexdigest()[:16]
    return f"<status-{notification.id}.{digest}@{domain}>"


def message(notification: Notification, settings: Settings) -> EmailMessage:
    """The e-mail for ``notification``: the new status and notes, and the unsubscribe link."""
    change = notification.update
    row = change.request
    status = (change.status or row.status).replace("_", " ")
    base = settings.public_url or ""
    unsubscribe = f"{base}/notifications/unsubscribe/{notification.token}"
    mail = EmailMessage()
    mail["From"] = settings.notify_from
    mail["To"] = row.email
    mail["Subject"] = f"Your 311 request {row.service_request_id}: {status}"
    mail["Message-ID"] = message_id(notification, settings)
    mail["List-Unsubscribe"] = f"<{unsubscribe}>"
    lines = [
        f"Your request {row.service_request_id} ({row.service_name}) is now: {status}.",
    ]
    # The change's own notes: by sending time the request may have moved on.
    if change.description:
        lines += ["", change.description]
    lines += [
        "",
        f"Follow it at {base}/open311/v2/requests/{row.service_request_id}.json",
        "",
        f"To receive no more messages about this request: {unsubscribe}",
    ]
    mail.set_content("\n".join(lines))
    return mail


def _deliver(mail: EmailMessage, settings: Settings) -> None:
    assert settings.notify_smtp_host is not None
    with smtplib.SMTP(
        settings.notify_smtp_host, settings.notify_smtp_port, timeout=SMTP_TIMEOUT
    ) as smtp:
        smtp.send_message(mail)


def _retries(settings: Settings) -> outbox.Retries:
    # No ceiling: the few attempts of OPEN311_NOTIFY_MAX_ATTEMPTS bound the wait.
    return outbox.Retries(settings.notify_max_attempts, settings.notify_backoff)


#: Residents' messages, in no particular order.
OUTBOX = outbox.Outbox(
    name="notification",
    model=Notification,
    retries=_retries,
)


def _label(notification: Notification) -> str:
    # The request's public id, never the address.
    request_id = notification.update.request.service_request_id
    return (
        f"notification {notification.id} for request {request_id} (attempt {notification.attempts})"
    )


def _send(notification: Notification, settings: Settings) -> outbox.Sent | outbox.Failed:
    try:
        _deliver(message(notification, settings), settings)
    except (smtplib.SMTPException, OSError) as exc:
        # The class and code only: a server's text may quote the address.
        code = getattr(exc, "smtp_code", None)
        return outbox.Failed(f"{type(exc).__name__} {code or ''}".strip())
    return outbox.Sent()


def send_one(notification_id: int) -> str | None:
    """Send one due message if this worker wins it; returns its new state, or ``None``."""
    if not _settings().notify_smtp_host:
        return None
    won = outbox.claim(OUTBOX, notification_id)
    return outbox.run(OUTBOX, won, _send, _label) if won else None


def send_due(limit: int = 50) -> int:
    """Send the messages that are due; returns how many were sent."""
    if not _settings().notify_smtp_host:
        return 0
    return outbox.send_due(OUTBOX, _send, _label, limit)


def unsubscribe(token: str) -> ServiceRequest | None:
    """Stop messages about the request ``token``'s message was about; ``None`` if unknown."""
    if not token or len(token) > 64:
        return None
    notification = db.session.scalar(select(Notification).where(Notification.token == token))
    if notification is None:
        return None
    row = notification.update.request
    if db.session.scalar(select(OptOut.id).where(OptOut.request_pk == row.id)) is None:
        db.session.add(OptOut(request_pk=row.id, created_at=utcnow()))
    # Messages not yet sent are withdrawn too: the resident asked for silence now.
    db.session.execute(
        update(Notification)
        .where(
            Notification.state == QUEUED,
            Notification.update_pk.in_(
                select(RequestUpdate.id).where(RequestUpdate.request_pk == row.id)
            ),
        )
        .values(state=FAILED, last_error="unsubscribed")
    )
    db.session.commit()
    return row
