"""Assertions and transforms shared by the test layers."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OPEN311_SHARED_DIR", ROOT.parent / "shared"))

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
#: A reporter's personal fields, distinctive enough to search any output or log for.
PERSONAL = {
    "email": "zelda.quux@example.org",
    "phone": "555-0199-7",
    "first_name": "Zeldaqq",
    "last_name": "Quuxington",
    "device_id": "dev-77813",
    "account_id": "acct-55127",
}
NUMERIC = {
    ("request", "lat"),
    ("request", "long"),
    ("attribute", "order"),
    ("error", "code"),
    ("extended_attributes", "history_length"),
}
BOOLEAN = {"metadata", "variable", "required", "duplicate"}


def shared_path(*parts: str) -> Path:
    """A file in the read-only ``shared`` folder beside the checkout."""
    path = SHARED.joinpath(*parts)
    assert path.exists(), f"{path} is missing: tests read ../shared beside the checkout"
    return path


def _registry() -> Registry:
    resources = []
    for path in shared_path("schemas").glob("*.json"):
        if path.name == "swagger.json":
            continue
        contents = json.loads(path.read_text())
        resources.append((path.name, Resource(contents=contents, specification=DRAFT4)))
    return Registry().with_resources(resources)


_REGISTRY = None


def validate_against(schema_name: str, document: Any) -> None:
    """Validate with the official GeoReport v2 JSON Schema ``schema_name`` (Draft 4)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    schema = _REGISTRY.contents(schema_name)
    Draft4Validator(schema, registry=_REGISTRY).validate(document)


def xml_ok(response: Any, status: int = 200) -> etree._Element:
    """Assert an XML response per the checklist (T01-T03) and return its root."""
    assert response.status_code == status, response.data
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert re.match(rb'^<\?xml version="1.0" encoding="utf-8"\?>', response.data, re.I)
    root = etree.fromstring(response.data)
    for element in root.iter():
        assert not element.attrib, f"XML attribute on <{element.tag}>"
        assert not element.nsmap, f"namespace on <{element.tag}>"
    return root


def json_ok(response: Any, status: int = 200) -> Any:
    """Assert a JSON response's status and content type; return the parsed body."""
    assert response.status_code == status, response.data
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(response.data)


def spark(element: etree._Element, container: bool = False) -> Any:
    """The Spark JSON transform of an XML element (checklist T05)."""
    children = list(element)
    parent = element.getparent()
    parent_tag = parent.tag if parent is not None else None
    if not children:
        if container:
            return []
        text = element.text
        if text is None:
            return None
        if element.tag in BOOLEAN:
            return {"true": True, "false": False}[text]
        if (parent_tag, element.tag) in NUMERIC:
            return float(text) if element.tag in ("lat", "long") else int(text)
        return text
    names = {c.tag for c in children}
    if len(names) == 1 and (len(children) > 1 or element.tag in CONTAINERS):
        return [spark(c) for c in children]
    return {c.tag: spark(c, container=c.tag in CONTAINERS) for c in children}


CONTAINERS = {
    "services",
    "service_requests",
    "errors",
    "endpoints",
    "formats",
    "attributes",
    "values",
}


def spark_document(xml: bytes) -> Any:
    """Spark transform of a whole document: the root element is dropped."""
    root = etree.fromstring(xml)
    return spark(root, container=root.tag in CONTAINERS)


def error_descriptions(response: Any) -> list[str]:
    """The descriptions of a GeoReport error body in either format, checked for shape."""
    if response.headers["Content-Type"].startswith("application/json"):
        body = json.loads(response.data)
        assert isinstance(body, list)
        assert body
        for item in body:
            assert item["code"] == response.status_code
            assert isinstance(item["description"], str)
        return [item["description"] for item in body]
    root = etree.fromstring(response.data)
    assert root.tag == "errors"
    assert len(root)
    for error in root:
        assert error.tag == "error"
        assert error.findtext("code") == str(response.status_code)
    return [error.findtext("description") for error in root]
