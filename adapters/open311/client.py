"""GeoReport v2 over HTTP: the only place that speaks to the other server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from adapters import jsondoc
from adapters.base import TransientError
from adapters.http import BoundedSession, raise_for_status, snippet, transport


def _errors(response: requests.Response) -> str:
    # GeoReport errors are a list of {code, description}; anything else is shown raw.
    try:
        body = jsondoc.parse(response.content)
        return "; ".join(str(e.get("description", "")) for e in body)[:300]
    except (ValueError, TypeError, AttributeError):
        return snippet(response)


class Open311Client:
    """A session with one GeoReport v2 endpoint (its base URL ends before ``requests.json``)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        """Prepare a session; nothing is sent until the first call."""
        self.base = settings["base_url"].rstrip("/")
        self.timeout = (settings["connect_timeout"], settings["read_timeout"])
        self.session = BoundedSession(settings)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def post_request(self, fields: list[tuple[str, str]], key: str) -> Any:
        """``POST requests.json``; the idempotency key goes along for servers that honour it."""
        with transport("POST requests"):
            response = self.session.post(
                f"{self.base}/requests.json",
                data=fields,
                headers={"Idempotency-Key": key},
                timeout=self.timeout,
            )
        status = response.status_code
        raise_for_status(response, f"POST requests: HTTP {status}: {_errors(response)}")
        try:
            return jsondoc.parse(response.content)
        except ValueError:
            raise TransientError(
                f"POST requests: unreadable answer: {snippet(response)}", outcome_unknown=True
            ) from None

    def get_requests(self, params: dict[str, str]) -> Any:
        """``GET requests.json`` with ``params`` (e.g. ``updated_after``)."""
        return self.get_page(f"{self.base}/requests.json", params)[0]

    def get_page(self, url: str, params: dict[str, str] | None = None) -> tuple[Any, str | None]:
        """One page of ``GET requests``: its document and the absolute URL of the next page
        (the answer's ``Link: <...>; rel="next"``), or ``None`` when there is none.

        A next page on another host is not followed: the feed must come from the server the
        back end names, not from wherever its answer points.
        """
        with transport("GET requests"):
            response = self.session.get(url, params=params, timeout=self.timeout)
        status = response.status_code
        raise_for_status(response, f"GET requests: HTTP {status}: {_errors(response)}")
        try:
            document = jsondoc.parse(response.content)
        except ValueError:
            raise TransientError(f"GET requests: unreadable answer: {snippet(response)}") from None
        link = response.links.get("next", {}).get("url")
        if not link:
            return document, None
        onward = urljoin(response.url, link)
        here, there = urlsplit(self.base), urlsplit(onward)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            raise TransientError(f"GET requests: next page on another host ({there.netloc})")
        return document, onward
