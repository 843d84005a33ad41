"""Error bodies, suffixes and jurisdiction modes (checklist T06, E01-E05, S07)."""

import pytest

from tests.helpers import error_descriptions, json_ok, xml_ok

B = "/open311/v2"


@pytest.mark.parametrize("path", ["services.yaml", "services", "services.JSON", "discovery.html"])
def test_t06_unknown_suffix_is_404_xml(client, catalogue, path):
    response = client.get(f"{B}/{path}")
    xml_ok(response, 404)
    assert error_descriptions(response)


def test_unknown_path_in_json_answers_json(client, catalogue):
    response = client.get(f"{B}/nothing-here.json")
    json_ok(response, 404)
    assert error_descriptions(response)


def test_wrong_method_is_a_georeport_error(client, catalogue):
    response = client.delete(f"{B}/services.json")
    json_ok(response, 405)
    assert "GET" in response.headers["Allow"]
    assert error_descriptions(response)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_e01_e02_error_bodies(client, catalogue, fmt):
    cases = [
        (client.get(f"{B}/services/NOPE.{fmt}"), 404),
        (client.get(f"{B}/requests/NOPE.{fmt}"), 404),
        (client.get(f"{B}/tokens/NOPE.{fmt}"), 404),
        (client.get(f"{B}/requests.{fmt}?status=pending"), 400),
        (client.get(f"{B}/services.{fmt}?jurisdiction_id=elsewhere.org"), 404),
        (client.post(f"{B}/requests.{fmt}", data={"service_code": "S0"}), 403),
    ]
    for response, status in cases:
        assert response.status_code == status
        if fmt == "json":
            json_ok(response, status)
        else:
            xml_ok(response, status)
        assert all(d.strip() for d in error_descriptions(response))


def test_e03_single_mode_jurisdiction(client, catalogue):
    plain = xml_ok(client.get(f"{B}/services.xml"))
    named = client.get(f"{B}/services.xml?jurisdiction_id=aurora-il.org")
    assert named.status_code == 200
    assert named.data == client.get(f"{B}/services.xml").data
    assert len(plain) == 4
    other = client.get(f"{B}/services.xml?jurisdiction_id=chicago.gov")
    xml_ok(other, 404)
    assert "chicago.gov" in error_descriptions(other)[0]


def test_e04_multi_mode_requires_jurisdiction(client, multi_catalogue):
    missing = client.get(f"{B}/requests.xml")
    xml_ok(missing, 400)
    assert "jurisdiction_id" in error_descriptions(missing)[0]
    xml_ok(client.get(f"{B}/requests.xml?jurisdiction_id=nowhere.org"), 404)
    xml_ok(client.get(f"{B}/requests.xml?jurisdiction_id=naperville.il.us"))
    xml_ok(client.get(f"{B}/services.xml"), 400)
    xml_ok(client.get(f"{B}/services/S0.xml"), 400)
    xml_ok(client.get(f"{B}/tokens/abc.xml"), 400)


def test_multi_mode_keeps_jurisdictions_apart(client, multi_catalogue, api_key):
    response = client.post(
        f"{B}/requests.json",
        data={
            "api_key": api_key,
            "jurisdiction_id": "naperville.il.us",
            "service_code": "S0",
            "address_string": "400 S Eagle St",
        },
    )
    new_id = json_ok(response)[0]["service_request_id"]
    naperville = json_ok(client.get(f"{B}/requests.json?jurisdiction_id=naperville.il.us"))
    aurora = json_ok(client.get(f"{B}/requests.json?jurisdiction_id=aurora-il.org"))
    assert [r["service_request_id"] for r in naperville] == [new_id]
    assert aurora == []
    json_ok(client.get(f"{B}/requests/{new_id}.json?jurisdiction_id=aurora-il.org"), 404)
    json_ok(client.get(f"{B}/requests/{new_id}.json?jurisdiction_id=naperville.il.us"))


def test_e05_get_never_needs_a_key(client, catalogue):
    for path in ("discovery", "services", "services/S1", "requests"):
        assert client.get(f"{B}/{path}.json").status_code == 200
        assert client.get(f"{B}/{path}.json?api_key=whatever").status_code == 200


def test_unknown_query_parameter_is_refused(client, catalogue):
    response = client.get(f"{B}/services.json?jurisdiction=aurora-il.org")
    json_ok(response, 400)
    assert "jurisdiction" in error_descriptions(response)[0]


def test_unknown_parameter_named_with_a_control_character_is_a_400_in_xml(client, catalogue):
    # Found by schemathesis: quoting the name in the XML error made lxml raise, a 500.
    response = client.get(f"{B}/services.xml?%01=x")
    root = xml_ok(response, 400)
    assert root.findtext("error/description").startswith("\\x01")


def test_cors_on_reads(client, catalogue):
    assert client.get(f"{B}/services.json").headers["Access-Control-Allow-Origin"] == "*"
