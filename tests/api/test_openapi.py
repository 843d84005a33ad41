"""The OpenAPI document: valid, complete over the URL map, and taken from the schemas."""

from importlib.metadata import version

import pytest
from openapi_spec_validator import validate
from werkzeug.exceptions import MethodNotAllowed, NotFound

from open311 import create_app
from open311.openapi import build_spec
from schemas.inputs import RADIUS_MAX, STATUSES
from tests.helpers import json_ok

B = "/open311/v2"


def _document(client):
    response = client.get(f"{B}/openapi.json")
    assert response.headers["Content-Type"].startswith("application/json")
    return json_ok(response)


def _parameter(document, path, method, name):
    found = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
    assert len(found) == 1, name
    return found[0]


def test_document_is_valid_openapi_with_the_package_version(client):
    document = _document(client)
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["version"] == version("open311-gateway")


def test_every_api_route_and_format_is_documented(app, client):
    """Match each documented path against the URL map, so a new route cannot be forgotten."""
    document = _document(client)
    adapter = app.url_map.bind("localhost")
    documented = set()
    for path, operations in document["paths"].items():
        concrete = path.replace("{", "x").replace("}", "")
        for method in operations:
            endpoint, args = adapter.match(concrete, method=method.upper())
            documented.add((endpoint, method.upper(), args.get("fmt")))
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(B):
            continue
        formats = ("json", "xml") if "fmt" in rule.arguments else (None,)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.update((rule.endpoint, method, fmt) for fmt in formats)
    assert routed == documented


def test_a_route_without_documentation_fails_the_build():
    app = create_app({"database_url": "sqlite://"})
    app.add_url_rule(f"{B}/extra.json", endpoint="georeport.extra", view_func=lambda: "")
    with pytest.raises(LookupError, match="extra"):
        build_spec(app)


def test_paths_are_real_routes_only(app, client):
    adapter = app.url_map.bind("localhost")
    for path in _document(client)["paths"]:
        assert path.startswith(B)
        with pytest.raises((NotFound, MethodNotAllowed)):
            adapter.match(path.replace("{", "x").replace("}", "") + "-nothing", method="GET")


def test_constraints_come_from_the_input_schemas(client):
    document = _document(client)
    radius = _parameter(document, f"{B}/requests.json", "get", "radius")["schema"]
    assert radius["maximum"] == RADIUS_MAX
    assert radius["exclusiveMinimum"] == 0
    status = _parameter(document, f"{B}/requests.xml", "get", "status")
    assert status["schema"]["items"]["enum"] == list(STATUSES)
    assert status["explode"] is True
    lat = _parameter(document, f"{B}/locations/validate.json", "get", "lat")
    assert lat["required"] is True
    assert (lat["schema"]["minimum"], lat["schema"]["maximum"]) == (-90, 90)
    form = document["paths"][f"{B}/requests.json"]["post"]["requestBody"]["content"]
    body = form["application/x-www-form-urlencoded"]["schema"]
    assert body["required"] == ["service_code"]
    assert body["properties"]["channel"]["enum"] == ["phone", "web", "app", "walk-in", "email"]
    assert body["properties"]["description"]["maxLength"] == 4000
    assert any("attribute" in pattern for pattern in body["patternProperties"])


def test_keys_errors_and_xml_are_described(client):
    document = _document(client)
    assert document["components"]["securitySchemes"]["api_key"] == {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
    }
    post = document["paths"][f"{B}/requests.xml"]["post"]
    assert post["security"] == [{"api_key": []}]
    assert {"400", "403", "404", "409", "413", "503"} <= post["responses"].keys()
    assert "text/xml" in post["responses"]["200"]["content"]
    assert "text/xml" in post["responses"]["403"]["content"]
    get = document["paths"][f"{B}/services.json"]["get"]
    assert get["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Errors"
    }
    assert "security" not in get


def test_every_operation_documents_the_rate_limit_answer(app, client):
    """Every GeoReport route is wrapped by the limiter, so every operation can answer 429."""
    document = _document(client)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "429" in operation["responses"], f"{method.upper()} {path}"
