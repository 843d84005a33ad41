"""SMTP: the only place that speaks to the mail server.

Reply codes decide what a failure means: 4xx is temporary, 5xx is final. A connection that
drops after ``DATA`` was sent may have delivered the message, so that outcome is unknown
(the resend carries the same ``Message-ID``).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any

from adapters.base import AuthError, PermanentError, TransientError


def _by_code(code: int, text: str) -> None:
    if 400 <= code < 500:
        raise TransientError(f"SMTP {code}: {text}")
    raise PermanentError(f"SMTP {code}: {text}")


def send(message: EmailMessage, settings: dict[str, Any]) -> None:
    """Send one message through the configured server; raises the matching error."""
    timeout = settings["timeout"]
    try:
        with smtplib.SMTP(settings["host"], settings["port"], timeout=timeout) as smtp:
            if settings["starttls"]:
                smtp.starttls(context=ssl.create_default_context())
            if settings.get("username"):
                smtp.login(settings["username"], settings["password"])
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthError(f"SMTP login refused ({exc.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        _by_code(code, text.decode("utf-8", "replace"))
    except smtplib.SMTPResponseException as exc:
        _by_code(exc.smtp_code, exc.smtp_error.decode("utf-8", "replace"))
    except (ConnectionRefusedError, socket.gaierror) as exc:
        raise TransientError(f"SMTP connection refused ({type(exc).__name__})") from None
    except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
        raise TransientError(
            f"SMTP connection lost ({type(exc).__name__})", outcome_unknown=True
        ) from None
