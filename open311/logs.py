"""Structured logs: one access line per HTTP request, and one format for every line.

Every request gets an id: the caller's ``X-Request-Id`` when it is a short safe token,
otherwise a fresh one. It goes back in the ``X-Request-Id`` response header and on every
log record made while the request runs, so one line in the access log leads to the
traceback of the same request.

The access line carries the method, the path (never the query string, where ``api_key``
may sit; never a body), the status, the duration and the request id. Lines are JSON
(``OPEN311_LOG_FORMAT=json``, the default) or readable text (``text``, the default when
Flask runs in debug mode).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, has_request_context, request
from pythonjsonlogger.json import JsonFormatter
from werkzeug.wsgi import ClosingIterator

ENVIRON_KEY = "open311.request_id"
HEADER = "X-Request-Id"
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Shown as ``\xNN`` in the path of a log line: a newline would forge a second line.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Path parts that are secrets of their own: an unsubscribe token stops a resident's e-mails,
#: and ``admin/keys/{prefix}/...`` also takes a whole key pasted for its prefix.
_SECRET_PATHS = (
    re.compile(r"^(/notifications/unsubscribe/)[^/]+"),
    re.compile(r"^(/open311/v2/admin/keys/o311_[^_/]*_)[^/]+"),
)
_PATH_MAX = 300

access_log = logging.getLogger("open311.access")


def request_id_for(incoming: str | None) -> str:
    """The caller's request id when it is safe to echo and log, otherwise a new one."""
    if incoming and _SAFE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def loggable_path(environ: dict[str, Any]) -> str:
    """The request path for a log line: no query string, secrets masked, unprintables escaped."""
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    path = raw.encode("latin-1", "replace").decode("utf-8", "replace")  # WSGI's byte string
    for pattern in _SECRET_PATHS:
        path = pattern.sub(r"\1[redacted]", path)
    if len(path) > _PATH_MAX:
        path = path[:_PATH_MAX] + "..."
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}", path)


class AccessLog:
    """WSGI middleware: a request id for each request, and its access line once it is done.

    The line is written when the server closes the response, so a streamed export is
    timed to its last byte; a request that raises past Flask is logged as a 500.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        """Wrap the WSGI callable ``app``."""
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one request through the wrapped app."""
        started = time.perf_counter()
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = request_id
        seen: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append(status)
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        def done() -> None:
            status = int(seen[-1].split(" ", 1)[0]) if seen else 500
            method = environ.get("REQUEST_METHOD", "-")
            path = loggable_path(environ)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            access_log.info(
                "%s %s %s %.1fms",
                method,
                path,
                status,
                duration_ms,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "request_id": request_id,
                },
            )

        try:
            body = self.app(environ, start)
        except BaseException:
            done()
            raise
        return ClosingIterator(body, [done])


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``None`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` unless the record already has one; never drops a record."""
        if not hasattr(record, "request_id"):
            record.request_id = request.environ.get(ENVIRON_KEY) if has_request_context() else None
        return True


def formatter(fmt: str) -> logging.Formatter:
    """The formatter of ``fmt`` (``json`` or ``text``) for every handler of the gateway."""
    if fmt == "json":
        return JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return _TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


class _TextFormatter(logging.Formatter):
    """Readable lines; a record logged outside any request shows ``[-]``, not ``[None]``."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record = logging.makeLogRecord({**record.__dict__, "request_id": "-"})
        return super().format(record)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is now (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(fmt: str) -> None:
    """Send every log record to standard error in ``fmt``; the gateway's own at INFO.

    Installed on the root logger once (a second app replaces the handler, never adds one),
    so that libraries' warnings come out in the same format as the gateway's lines.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    for name in ("open311", "adapters"):
        logging.getLogger(name).setLevel(logging.INFO)


def default_format(setting: str | None, debug: bool = False) -> str:
    """``OPEN311_LOG_FORMAT`` when set, else readable text in debug mode and JSON otherwise."""
    return setting or ("text" if debug else "json")


def gunicorn_logger(fmt: str) -> type:
    """A gunicorn logger class whose error log uses the gateway's format and request ids."""
    from gunicorn.glogging import Logger

    class GatewayLogger(Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(formatter(fmt))
                handler.addFilter(RequestIdFilter())

    return GatewayLogger


def init_app(app: Flask, fmt: str) -> None:
    """Configure logging in ``fmt`` and wrap the app in the access log."""
    configure(fmt)
    app.wsgi_app = AccessLog(app.wsgi_app)  # type: ignore[method-assign]
