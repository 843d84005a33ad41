"""What every HTTP adapter client shares: timeouts, and turning transport trouble into errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from marshmallow import Schema, ValidationError, fields, validate
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

from adapters.base import AuthError, PermanentError, TransientError


def _http_url(value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ValidationError("Must be an http(s) URL.")


class HttpSettings(Schema):
    """Settings every HTTP adapter takes: where the back end is and how long to wait."""

    base_url = fields.String(required=True, validate=_http_url)
    connect_timeout = fields.Float(load_default=5.0, validate=validate.Range(min=0.01, max=600))
    read_timeout = fields.Float(load_default=30.0, validate=validate.Range(min=0.01, max=3600))
    #: The most of an answer read, and how long reading it may take in all: ``read_timeout``
    #: bounds each wait for a byte, so a vendor trickling an endless answer would hold a
    #: worker (and its memory) for ever without these.
    max_answer_bytes = fields.Integer(
        load_default=10 * 1024 * 1024, validate=validate.Range(min=1024, max=1024**3)
    )
    answer_deadline = fields.Float(load_default=120.0, validate=validate.Range(min=0.1, max=3600))


class AnswerTooLarge(requests.RequestException):
    """The back end's answer went past ``max_answer_bytes``; the rest was not read."""


class AnswerTooSlow(requests.Timeout):
    """Reading the back end's answer took longer than ``answer_deadline`` in all."""


class BoundedSession(requests.Session):
    """A session that reads every answer whole, up to a size and within a total time.

    The body is read here, in chunks, so that an endless or trickling answer is cut off;
    the errors it raises are ``requests`` errors, which :func:`transport` turns into
    transient failures whose outcome is unknown (the back end may have acted).
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        """Take the limits from an adapter's :class:`HttpSettings`."""
        super().__init__()
        self.max_bytes = int(settings.get("max_answer_bytes", 10 * 1024 * 1024))
        self.deadline = float(settings.get("answer_deadline", 120.0))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """Send as ``requests`` does, then read the answer within the limits."""
        kwargs["stream"] = True
        started = time.monotonic()
        response = super().request(method, url, *args, **kwargs)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                # read1, not iter_content: iter_content waits for a whole chunk, so a
                # trickle of a few bytes a second would never reach the deadline check.
                chunk = _read_some(response)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise AnswerTooLarge(f"answer over {self.max_bytes} bytes")
                if time.monotonic() - started > self.deadline:
                    raise AnswerTooSlow(f"answer not read within {self.deadline:g} s")
                chunks.append(chunk)
        finally:
            response.close()
        # What requests itself sets once a streamed body is read: .content, .text and
        # .json() then work on these bytes without reading again.
        response._content = b"".join(chunks)
        response._content_consumed = True
        return response


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


def _read_some(response: requests.Response) -> bytes:
    """What has arrived of the body (at most 64 KiB), as ``requests`` errors on failure."""
    try:
        data: bytes = response.raw.read1(64 * 1024, decode_content=True)
    except ReadTimeoutError as exc:
        raise requests.ReadTimeout(exc) from None
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    return data


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
    except AnswerTooSlow as exc:
        raise TransientError(f"{what}: {exc}", outcome_unknown=True) from None
    except requests.Timeout:
        raise TransientError(f"{what}: read timeout", outcome_unknown=True) from None
    except AnswerTooLarge as exc:
        raise TransientError(f"{what}: {exc}", outcome_unknown=True) from None
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
