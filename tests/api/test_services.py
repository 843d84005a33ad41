"""Service list and definitions (checklist S01-S07, F01-F08, T05 for services)."""

import json

from tests.helpers import error_descriptions, json_ok, spark_document, validate_against, xml_ok

B = "/open311/v2"
SERVICE_FIELDS = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)


def test_s01_service_list_xml(client, catalogue):
    root = xml_ok(client.get(f"{B}/services.xml"))
    assert root.tag == "services"
    assert len(root) >= 1
    assert all(child.tag == "service" for child in root)


def test_s02_service_elements(client, catalogue):
    root = xml_ok(client.get(f"{B}/services.xml"))
    for service in root:
        assert [child.tag for child in service] == list(SERVICE_FIELDS)
        assert service.findtext("metadata") in ("true", "false")
        assert service.findtext("type") in ("realtime", "batch", "blackbox")


def test_s03_service_list_json_types(client, catalogue):
    body = json_ok(client.get(f"{B}/services.json"))
    assert isinstance(body, list)
    for service in body:
        assert isinstance(service["metadata"], bool)
        assert isinstance(service["service_code"], str)
        assert isinstance(service["keywords"], str)


def test_s04_codes_unique(client, catalogue):
    codes = [s["service_code"] for s in json_ok(client.get(f"{B}/services.json"))]
    assert len(codes) == len(set(codes)) == 4


def test_s05_metadata_true_iff_attributes(client, catalogue):
    for service in json_ok(client.get(f"{B}/services.json")):
        definition = json_ok(client.get(f"{B}/services/{service['service_code']}.json"))
        assert service["metadata"] is bool(definition["attributes"])
    flags = {s["service_code"]: s["metadata"] for s in json_ok(client.get(f"{B}/services.json"))}
    assert flags == {"S0": False, "S1": True, "SB": False, "SX": False}


def test_s06_service_list_validates_against_schema(client, catalogue):
    validate_against("services.json", json_ok(client.get(f"{B}/services.json")))


def test_s07_empty_jurisdiction_same_as_absent(client, catalogue):
    plain = client.get(f"{B}/services.xml")
    assert client.get(f"{B}/services.xml?jurisdiction_id=").data == plain.data
    assert client.get(f"{B}/services.xml?jurisdiction_id=aurora-il.org").data == plain.data


def test_service_list_keeps_catalogue_order(client, catalogue):
    codes = [s["service_code"] for s in json_ok(client.get(f"{B}/services.json"))]
    assert codes == [s["service_code"] for s in catalogue["services"]]


def test_f01_definition_xml(client, catalogue):
    root = xml_ok(client.get(f"{B}/services/S1.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "S1"
    assert all(child.tag == "attribute" for child in root.find("attributes"))


def test_f02_definition_json_is_object(client, catalogue):
    body = json_ok(client.get(f"{B}/services/S1.json"))
    assert isinstance(body, dict)
    assert body["service_code"] == "S1"
    assert isinstance(body["attributes"], list)


def test_f03_attribute_fields(client, catalogue):
    body = json_ok(client.get(f"{B}/services/S1.json"))
    datatypes = set()
    for attribute in body["attributes"]:
        for key in (
            "variable",
            "code",
            "datatype",
            "required",
            "datatype_description",
            "order",
            "description",
        ):
            assert key in attribute
        assert isinstance(attribute["variable"], bool)
        assert isinstance(attribute["required"], bool)
        datatypes.add(attribute["datatype"])
    assert datatypes == {
        "string",
        "number",
        "datetime",
        "text",
        "singlevaluelist",
        "multivaluelist",
    }
    root = xml_ok(client.get(f"{B}/services/S1.xml"))
    for attribute in root.find("attributes"):
        assert attribute.findtext("variable") in ("true", "false")
        assert attribute.findtext("required") in ("true", "false")


def test_f04_orders_positive_and_unique(client, catalogue):
    attributes = json_ok(client.get(f"{B}/services/S1.json"))["attributes"]
    orders = [a["order"] for a in attributes]
    assert all(isinstance(o, int) and o > 0 for o in orders)
    assert len(set(orders)) == len(orders)
    assert orders == sorted(orders)
    codes = [a["code"] for a in attributes]
    assert len(set(codes)) == len(codes)


def test_f05_list_attributes_have_values(client, catalogue):
    attributes = json_ok(client.get(f"{B}/services/S1.json"))["attributes"]
    lists = [a for a in attributes if a["datatype"].endswith("valuelist")]
    assert len(lists) == 2
    for attribute in lists:
        keys = [v["key"] for v in attribute["values"]]
        assert keys
        assert len(set(keys)) == len(keys)
        assert all(isinstance(k, str) for k in keys)
        assert all(isinstance(v["name"], str) for v in attribute["values"])
    root = xml_ok(client.get(f"{B}/services/S1.xml"))
    sel = next(a for a in root.iter("attribute") if a.findtext("code") == "SEL")
    assert [v.findtext("key") for v in sel.find("values")] == ["a", "b"]


def test_f06_unknown_service_is_404(client, catalogue):
    response = client.get(f"{B}/services/NO_SUCH_CODE.xml")
    assert response.status_code == 404
    xml_ok(response, 404)
    assert error_descriptions(response)
    response = client.get(f"{B}/services/NO_SUCH_CODE.json")
    assert isinstance(json_ok(response, 404), list)


def test_f07_definition_without_attributes(client, catalogue):
    assert json_ok(client.get(f"{B}/services/S0.json")) == {"service_code": "S0", "attributes": []}
    root = xml_ok(client.get(f"{B}/services/S0.xml"))
    assert root.find("attributes") is not None
    assert len(root.find("attributes")) == 0


def test_f08_definition_validates_against_schema(client, catalogue):
    validate_against("service-definition.json", json_ok(client.get(f"{B}/services/S1.json")))


def test_t05_services_json_is_spark_of_xml(client, catalogue):
    for path in ("services", "services/S1", "services/S0"):
        as_json = json.loads(client.get(f"{B}/{path}.json").data)
        assert as_json == spark_document(client.get(f"{B}/{path}.xml").data), path


def test_codes_with_dots_and_leading_zeros(client, app):
    from open311.catalogue import import_catalogue

    import_catalogue(
        {
            "jurisdictions": [{"jurisdiction_id": "aurora-il.org", "name": "Aurora"}],
            "services": [{"service_code": "001.v2", "service_name": "Odd code"}],
        }
    )
    body = json_ok(client.get(f"{B}/services/001.v2.json"))
    assert body["service_code"] == "001.v2"
    assert json_ok(client.get(f"{B}/services.json"))[0]["service_code"] == "001.v2"


def test_retired_service_leaves_list_but_keeps_definition(client, catalogue):
    from open311.catalogue import import_catalogue

    catalogue["services"] = [s for s in catalogue["services"] if s["service_code"] != "SX"]
    import_catalogue(catalogue)
    codes = [s["service_code"] for s in json_ok(client.get(f"{B}/services.json"))]
    assert "SX" not in codes
    assert json_ok(client.get(f"{B}/services/SX.json"))["service_code"] == "SX"


def test_no_catalogue_means_empty_list(client):
    assert json_ok(client.get(f"{B}/services.json")) == []
    root = xml_ok(client.get(f"{B}/services.xml"))
    assert root.tag == "services"
    assert len(root) == 0
