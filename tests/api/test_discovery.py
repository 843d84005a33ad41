"""Service Discovery (checklist D01-D05)."""

from datetime import UTC, datetime

from schemas.fields import parse_w3c_datetime
from tests.helpers import json_ok, xml_ok

B = "/open311/v2"


def test_d01_discovery_xml(client, catalogue):
    root = xml_ok(client.get(f"{B}/discovery.xml"))
    assert root.tag == "discovery"
    for name in ("changeset", "contact", "key_service"):
        assert root.findtext(name)
    assert len(root.findall("endpoints/endpoint")) >= 1


def test_d02_discovery_json(client, catalogue):
    body = json_ok(client.get(f"{B}/discovery.json"))
    assert isinstance(body, dict)
    assert {"changeset", "contact", "key_service", "endpoints"} <= body.keys()
    assert isinstance(body["endpoints"], list)
    assert body["endpoints"]


def test_d03_endpoints_describe_georeport_v2(client, catalogue):
    body = json_ok(client.get(f"{B}/discovery.json"))
    for endpoint in body["endpoints"]:
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"].endswith("/open311/v2")
        assert endpoint["changeset"]
        assert endpoint["type"] in ("production", "test")
        assert "text/xml" in endpoint["formats"]
    root = xml_ok(client.get(f"{B}/discovery.xml"))
    for endpoint in root.findall("endpoints/endpoint"):
        assert "text/xml" in [f.text for f in endpoint.findall("formats/format")]


def test_d04_json_listed_because_services_json_works(client, catalogue):
    formats = json_ok(client.get(f"{B}/discovery.json"))["endpoints"][0]["formats"]
    assert "application/json" in formats
    json_ok(client.get(f"{B}/services.json"))


def test_d05_changesets_are_past_w3c_datetimes(client, catalogue):
    body = json_ok(client.get(f"{B}/discovery.json"))
    stamps = [body["changeset"]] + [e["changeset"] for e in body["endpoints"]]
    for stamp in stamps:
        assert parse_w3c_datetime(stamp, allow_date_only=False) <= datetime.now(UTC)


def test_discovery_endpoint_url_serves_services(client, catalogue):
    url = json_ok(client.get(f"{B}/discovery.json"))["endpoints"][0]["url"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    xml_ok(client.get(f"/{path}/services.xml"))


def test_discovery_names_the_311_center(client, catalogue):
    contact = json_ok(client.get(f"{B}/discovery.json"))["contact"]
    for fact in ("myAurora 311", "630-256-4636", "311@aurora.il.us", "3770 McCoy Drive"):
        assert fact in contact


def test_discovery_contact_is_configurable(client, catalogue, set_setting):
    set_setting(contact_phone_outside="555-0100", public_url="https://api.example.org")
    body = json_ok(client.get(f"{B}/discovery.json"))
    assert "555-0100" in body["contact"]
    assert body["endpoints"][0]["url"] == "https://api.example.org/open311/v2"


def test_discovery_changeset_follows_catalogue(client, catalogue):
    from open311.catalogue import import_catalogue

    before = json_ok(client.get(f"{B}/discovery.json"))["changeset"]
    import_catalogue(catalogue)  # unchanged: the changeset must not move
    assert json_ok(client.get(f"{B}/discovery.json"))["changeset"] == before
