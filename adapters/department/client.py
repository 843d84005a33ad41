"""The department system's wire protocol: the only place that speaks HTTP to it.

OAuth client credentials (a token is fetched when needed and refreshed once when the
department says it expired), ``Idempotency-Key`` on create, problem+json errors.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from adapters import jsondoc
from adapters.base import AuthError, TransientError
from adapters.http import BoundedSession, raise_for_status, snippet, transport


class Conflict(Exception):
    """The department already has a record for this reference (409 ``existing_id``)."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


def _json(response: requests.Response, what: str) -> Any:
    # A BOM is tolerated; HTML error pages and truncated bodies are an unknown outcome.
    try:
        return jsondoc.parse(response.content)
    except ValueError:
        raise TransientError(
            f"{what}: HTTP {response.status_code} with an unreadable body: {snippet(response)}",
            outcome_unknown=True,
        ) from None


class DepartmentClient:
    """A session with one department system."""

    def __init__(self, settings: dict[str, Any]) -> None:
        """Prepare a session; nothing is sent until the first call."""
        self.base = settings["base_url"].rstrip("/")
        self.settings = settings
        self.timeout = (settings["connect_timeout"], settings["read_timeout"])
        self.session = BoundedSession(settings)
        self._token: str | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def _fetch_token(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.settings["client_id"],
            "client_secret": self.settings["client_secret"],
        }
        if self.settings.get("scope"):
            form["scope"] = self.settings["scope"]
        with transport("token"):
            response = self.session.post(
                f"{self.base}/oauth/token", data=form, timeout=self.timeout
            )
        if response.status_code in (400, 401, 403):
            raise AuthError(f"token: credentials refused (HTTP {response.status_code})")
        self._raise_for_status(response, "token")
        document = _json(response, "token")
        token = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or not token:
            raise TransientError("token: answer without access_token")
        return token

    def _token_value(self, refresh: bool = False) -> str:
        with self._lock:
            if refresh or self._token is None:
                self._token = self._fetch_token()
            return self._token

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        """One authorised call; an expired token is refreshed once and the call replayed once."""
        for attempt in (1, 2):
            token = self._token_value(refresh=attempt == 2)
            headers = dict(kwargs.pop("headers", {}) or {})
            headers["Authorization"] = f"Bearer {token}"
            with transport(what):
                response = self.session.request(
                    method, f"{self.base}{path}", headers=headers, timeout=self.timeout, **kwargs
                )
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if response.status_code != 401:
                return response
        raise AuthError(f"{what}: token refused even after a refresh (HTTP 401)")

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        raise_for_status(response, f"{what}: HTTP {status}: {snippet(response)}")

    def create(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        """``POST /api/v1/work-requests``; returns the work request.

        :raises Conflict: when the department already has the reference.
        """
        response = self.call(
            "POST",
            "/api/v1/work-requests",
            "create",
            data=json.dumps(body),
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
        )
        if response.status_code == 409:
            document = _json(response, "create")
            existing = document.get("existing_id") if isinstance(document, dict) else None
            if isinstance(existing, str) and existing:
                raise Conflict(existing)
        self._raise_for_status(response, "create")
        document = _json(response, "create")
        if not isinstance(document, dict):
            raise TransientError("create: answer is not an object", outcome_unknown=True)
        return document

    def find_by_reference(self, reference: str) -> list[dict[str, Any]]:
        """Work requests whose ``external_ref`` is ``reference``."""
        return self.search({"external_ref": reference})

    def search(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /api/v1/work-requests`` with ``params`` (one page)."""
        response = self.call("GET", "/api/v1/work-requests", "lookup", params=params)
        self._raise_for_status(response, "lookup")
        document = _json(response, "lookup")
        data = document.get("data") if isinstance(document, dict) else None
        if isinstance(data, dict):  # a single object where a list was expected
            data = [data]
        if not isinstance(data, list):
            raise TransientError("lookup: answer without a data list")
        return [item for item in data if isinstance(item, dict)]
