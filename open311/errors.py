"""GeoReport error bodies for every failure, in the format the client asked for."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, request
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from open311.extensions import db
from open311.formats import render
from schemas.errors import ErrorSchema
from schemas.inputs import text_problem

log = logging.getLogger(__name__)

_ERRORS = ErrorSchema(many=True)


class ApiError(Exception):
    """A failure to report to the client with ``status`` and one description per problem."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__(descriptions[0] if descriptions else str(status))
        self.status = status
        self.descriptions = list(descriptions)


def flatten_messages(messages: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested error messages into one line per problem."""
    if isinstance(messages, str):
        return [f"{prefix}: {messages}" if prefix else messages]
    if isinstance(messages, list):
        return [line for m in messages for line in flatten_messages(m, prefix)]
    lines: list[str] = []
    for key, value in messages.items():
        if key == "_schema":
            name = prefix
        elif isinstance(key, int):
            name = f"{prefix}[{key}]"
        else:
            name = f"{prefix}.{key}" if prefix else str(key)
        lines.extend(flatten_messages(value, name))
    return lines


def requested_format() -> str:
    """The format named by the URL suffix; XML when there is none (XML is mandatory)."""
    fmt = (request.view_args or {}).get("fmt")
    if fmt in ("json", "xml"):
        return fmt
    # The bulk feeds (.geojson, .csv) are read by scripts; JSON errors suit them best.
    return "json" if request.path.endswith((".json", ".geojson", ".csv")) else "xml"


def error_response(status: int, descriptions: Iterable[str]) -> Response:
    """A GeoReport ``errors`` body with ``status`` as each error's code."""
    items = [{"code": status, "description": d} for d in descriptions]
    return render(requested_format(), "errors", _ERRORS.dump(items), status=status)


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.descriptions)


def _validation_error(exc: ValidationError) -> Response:
    return error_response(400, flatten_messages(exc.messages))


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 404:
        description = "Not found. Resources end in .json or .xml, e.g. /open311/v2/services.xml."
    elif status == 413:
        description = "The request body is larger than this gateway accepts."
    else:
        description = exc.description or exc.name
    response = error_response(status, [description])
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def _database_error(exc: DBAPIError) -> Response:
    # A connection lost or refused is the database being away (503, try again); any other
    # database error is ours (a constraint, a bad statement) and stays a 500.
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return _database_unavailable(exc)
    return _unexpected(exc)


def _database_unavailable(exc: DBAPIError) -> Response:
    log.error("database unavailable: %s", type(exc.orig).__name__)
    response = error_response(503, ["The service is temporarily unavailable; try again shortly."])
    response.headers["Retry-After"] = "30"
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, ["Internal error; the 311 center has been notified."])


def _close_session(exc: BaseException | None) -> None:
    # Runs before Flask-SQLAlchemy's own teardown. When the connection died mid-request,
    # closing the session (its rollback) raises; out of a teardown that would replace the
    # answer already made (a 503, or the 200 of a committed POST) with gunicorn's bare 500.
    try:
        db.session.remove()
    except DBAPIError as error:
        log.warning(
            "database connection lost at the end of a request: %s", type(error.orig).__name__
        )
        db.session.registry.clear()  # the dead connection is invalidated, not pooled


def _refuse_unstorable_path_values() -> None:
    # An id in the path is compared with stored text: PostgreSQL refuses NUL in a query
    # parameter outright (a 500), and U+FFFD stands for bytes that were not UTF-8.
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and text_problem(value):
            raise ApiError(400, f"The {name} in the path is not valid text.")


def init_app(app: Flask) -> None:
    """Route every error through the GeoReport error renderer."""
    app.teardown_appcontext(_close_session)
    app.before_request(_refuse_unstorable_path_values)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(Exception, _unexpected)
