"""What every HTTP adapter client shares: timeouts, and turning transport trouble into errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

import requests
from marshmallow import Schema, ValidationError, fields, validate

from adapters.base import AuthError, PermanentError, TransientError


def _http_url(value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ValidationError("Must be an http(s) URL.")


class HttpSettings(Schema):
    """Settings every HTTP adapter takes: where the back end is and how long to wait."""

    base_url = fields.String(required=True, validate=_http_url)
    connect_timeout = fields.Float(load_default=5.0, validate=validate.Range(min=0.01, max=600))
    read_timeout = fields.Float(load_default=30.0, validate=validate.Range(min=0.01, max=3600))


def retry_after(response: requests.Response) -> float | None:
    """The ``Retry-After`` of a response in seconds (delta or HTTP date), if it has one."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


@contextmanager
def transport(what: str) -> Iterator[None]:
    """Turn ``requests`` failures into :class:`TransientError`.

    A refused connection never reached the back end; a read timeout or a dropped
    connection may have come after it acted, so the outcome is unknown.
    """
    try:
        yield
    except requests.ConnectTimeout as exc:
        raise TransientError(f"{what}: connect timeout ({type(exc).__name__})") from None
    except requests.ConnectionError as exc:
        unknown = not _refused(exc)
        raise TransientError(
            f"{what}: connection failed ({'lost' if unknown else 'refused'})",
            outcome_unknown=unknown,
        ) from None
    except requests.Timeout:
        raise TransientError(f"{what}: read timeout", outcome_unknown=True) from None
    except requests.RequestException as exc:
        raise TransientError(f"{what}: {type(exc).__name__}", outcome_unknown=True) from None


def _refused(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


def snippet(response: requests.Response, limit: int = 200) -> str:
    """The start of a response body for an error message (never the request: it has PII)."""
    text = response.content[:limit].decode("utf-8", "replace")
    return " ".join(text.split())


def raise_for_status(response: requests.Response, detail: str) -> None:
    """Turn an HTTP error status into the adapter error that says what to do next.

    401/403: credentials (no blind retry). 408, 429 and 5xx: try again later; whether the
    back end may already have acted is unknown, except for 429 and 503, which say it did not
    (a 500 may well come after the record was stored: Accela does this). Other 4xx: refused
    for good.
    """
    status = response.status_code
    if status < 400:
        return
    if status in (401, 403):
        raise AuthError(detail)
    if status in (408, 429) or status >= 500:
        raise TransientError(
            detail, retry_after=retry_after(response), outcome_unknown=status not in (429, 503)
        )
    raise PermanentError(detail)
