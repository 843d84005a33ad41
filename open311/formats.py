"""JSON and XML renderings of one dumped document.

The schemas dump every response into plain data; this module is the only place that turns
that data into bytes. JSON follows the Spark mapping (the XML root dropped, homogeneous
containers as arrays); XML uses the spec's element names, no attributes and no namespace.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Response
from lxml import etree

FORMATS = ("json", "xml")
MIMETYPES = {"json": "application/json", "xml": "text/xml"}

#: Container element -> the name of each of its children.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "jurisdictions": "jurisdiction",
    "service_request_updates": "request_update",
    # A request's history in its extended_attributes (extensions=true).
    "updates": "request_update",
    # The admin key's documents (open311/api/admin.py).
    "keys": "key",
    "deliveries": "delivery",
}

# The spec (and the SeeClickFix validator) want double quotes, which lxml does not write.
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


#: Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(match: re.Match[str]) -> str:
    return match[0].encode("unicode_escape").decode("ascii")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    # Stored text never holds these (inputs.py refuses them), but an error may quote what a
    # client sent, e.g. a parameter named "\x01": written as an escape, not a crash.
    return _NOT_XML.sub(_escape, str(value))


def _element(name: str, value: Any) -> etree._Element:
    element = etree.Element(name)
    if isinstance(value, list):
        item_name = ITEM_NAMES[name]
        for item in value:
            element.append(_element(item_name, item))
    elif isinstance(value, dict):
        for key, child in value.items():
            element.append(_element(key, child))
    elif value is not None:
        element.text = _text(value)
    return element


def to_xml(root: str, data: Any) -> bytes:
    """Render ``data`` as an XML document whose root element is ``root``."""
    return XML_DECLARATION + etree.tostring(_element(root, data), encoding="utf-8")


def to_json(data: Any) -> bytes:
    """Render ``data`` as JSON (the Spark mapping: the root name is not part of it)."""
    return orjson.dumps(data)


def render(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    """A response carrying ``data`` in ``fmt`` (``json`` or ``xml``)."""
    body = to_json(data) if fmt == "json" else to_xml(root, data)
    response = Response(body, status=status)
    response.headers["Content-Type"] = f"{MIMETYPES[fmt]}; charset=utf-8"
    return response
