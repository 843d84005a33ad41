"""The CitySourced v1 API: the only place that speaks its wire format.

Every call POSTs a ``CsRequest`` document to ``/cs/rest/<type>.ashx``; every answer is a
``CsResponse`` (XML, or JSON with ``?Output=json``). Logical errors usually come back with
HTTP 200 and only a ``Message``, so answers are classified by content, not status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from adapters import jsondoc
from adapters.base import AuthError, PermanentError, TransientError
from adapters.http import BoundedSession, raise_for_status, snippet, transport
from adapters.xml import parse


@dataclass
class CsResponse:
    """A parsed answer: its message, scalar fields, and reports (each a flat dict)."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)
    reports: list[dict[str, str]] = field(default_factory=list)


def build(auth_key: str, request_type: str, body: list[tuple[str, Any]]) -> bytes:
    """A ``CsRequest`` document: the three header elements first, then ``body``.

    A value that is a list of pairs becomes ``KeyValuePairs`` of ``KeyValuePair Key=...``.
    """
    root = etree.Element("CsRequest")
    for name, value in [
        ("ApiAuthKey", auth_key),
        ("ApiRequestType", request_type),
        ("ApiRequestVersion", "1"),
        *body,
    ]:
        element = etree.SubElement(root, name)
        if isinstance(value, list):
            for key, text in value:
                pair = etree.SubElement(element, "KeyValuePair", Key=key)
                pair.text = str(text)
        else:
            element.text = str(value)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _flat(element: etree._Element) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in element if len(child) == 0}


def parse_xml(data: bytes) -> CsResponse:
    """Read a ``CsResponse`` document, in whatever element order it comes.

    :raises ValueError: when it is not one.
    """
    root = parse(data)
    if root.tag != "CsResponse":
        raise ValueError(f"root element is {root.tag!r}, not CsResponse")
    reports = [_flat(report) for report in root.iterfind("Reports/Report")]
    return CsResponse(root.findtext("Message", "").strip(), _flat(root), reports)


def parse_json(data: bytes) -> CsResponse:
    """Read the ``?Output=json`` form; a single report may be an object, not a list.

    :raises ValueError: when it is not one.
    """
    document = jsondoc.parse(data)
    if not isinstance(document, dict) or not document:
        raise ValueError("not a JSON object")
    body = next(iter(document.values()))  # the root key wraps everything
    if not isinstance(body, dict):
        raise ValueError("CsResponse is not an object")
    scalars = {
        k: str(v) for k, v in body.items() if not isinstance(v, dict | list) and v is not None
    }
    found = (
        (body.get("Reports") or {}).get("Report") if isinstance(body.get("Reports"), dict) else None
    )
    items = [found] if isinstance(found, dict) else (found or [])
    reports = [
        {k: "" if v is None else str(v) for k, v in item.items() if not isinstance(v, dict | list)}
        for item in items
        if isinstance(item, dict)
    ]
    return CsResponse(str(body.get("Message", "")).strip(), scalars, reports)


def classify(message: str, what: str) -> None:
    """Raise the error a logical-error ``Message`` stands for (docs/vendors.md §5.1)."""
    if message.startswith("Invalid auth code"):
        raise AuthError(f"{what}: CitySourced refused the API key")
    if message.startswith(("Invalid request", "Unknown request", "Update failed")):
        raise PermanentError(f"{what}: {message[:200]}")


class CitySourcedClient:
    """A session with one CitySourced tenant."""

    def __init__(self, settings: dict[str, Any]) -> None:
        """Prepare a session; nothing is sent until the first call."""
        self.base = settings["base_url"].rstrip("/")
        self.auth_key = settings["api_key"]
        self.json = settings["output"] == "json"
        self.timeout = (settings["connect_timeout"], settings["read_timeout"])
        self.session = BoundedSession(settings)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def call(self, request_type: str, body: list[tuple[str, Any]]) -> CsResponse:
        """Send one request; returns the parsed answer, or raises the matching error."""
        document = build(self.auth_key, request_type, body)
        with transport(request_type):
            response = self.session.post(
                f"{self.base}/cs/rest/{request_type}.ashx",
                params={"Output": "json"} if self.json else None,
                data=document,
                headers={"Content-Type": "application/xml"},
                timeout=self.timeout,
            )
        status = response.status_code
        parsed: CsResponse | None = None
        try:
            parsed = parse_json(response.content) if self.json else parse_xml(response.content)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.message:
            classify(parsed.message, request_type)  # also for the 401/400 style of errors
        raise_for_status(response, f"{request_type}: HTTP {status}: {snippet(response)}")
        if parsed is None:
            raise TransientError(
                f"{request_type}: unreadable answer: {snippet(response)}", outcome_unknown=True
            )
        return parsed
