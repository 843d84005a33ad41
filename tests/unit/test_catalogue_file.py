"""Validation of catalogue files: every fault names its entry and field."""

import copy
from pathlib import Path

import pytest

from open311.catalogue import CatalogueError, read_catalogue_file, validate_catalogue
from tests.conftest import TEST_CATALOGUE

ROOT = Path(__file__).resolve().parents[2]


def problems(data):
    with pytest.raises(CatalogueError) as info:
        validate_catalogue(data)
    return info.value.problems


def test_test_catalogue_is_valid():
    data = validate_catalogue(copy.deepcopy(TEST_CATALOGUE))
    assert [s["service_code"] for s in data["services"]] == ["S0", "S1", "SB", "SX"]
    assert all(s["jurisdiction_id"] == "aurora-il.org" for s in data["services"])


def test_aurora_fixture_is_valid_and_covers_every_datatype():
    data = validate_catalogue(read_catalogue_file(ROOT / "fixtures" / "aurora-catalogue.yaml"))
    datatypes = {a["datatype"] for s in data["services"] for a in s["attributes"]}
    assert datatypes == {
        "string",
        "number",
        "datetime",
        "text",
        "singlevaluelist",
        "multivaluelist",
    }
    assert {s["type"] for s in data["services"]} == {"realtime", "batch", "blackbox"}
    assert [j["jurisdiction_id"] for j in data["jurisdictions"]] == ["aurora-il.org"]


def test_bad_datatype_names_entry_and_field():
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"][1]["attributes"][2]["datatype"] = "checkbox"
    (line,) = problems(data)
    assert line.startswith("services[1] (service_code 'S1').attributes[2].datatype:")


def test_numeric_code_must_be_quoted():
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"][0]["service_code"] = 1
    assert problems(data) == [
        "services[0] (service_code 1).service_code: Must be a string; quote it in the file."
    ]


def test_unknown_field_is_refused():
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"][0]["metadata"] = True
    assert any(
        "services[0] (service_code 'S0').metadata: Unknown field" in p for p in problems(data)
    )


def test_list_attribute_needs_values_and_unique_keys():
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"][1]["attributes"][1]["values"] = []
    data["services"][1]["attributes"][2]["values"] = [
        {"key": "x", "name": "1"},
        {"key": "x", "name": "2"},
    ]
    found = problems(data)
    assert any("attributes[1].values" in p for p in found)
    assert any("attributes[2].values" in p and "unique" in p for p in found)


def test_duplicate_codes_and_orders():
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"].append(copy.deepcopy(data["services"][0]))
    data["services"][1]["attributes"][1]["order"] = 1
    found = problems(data)
    assert any("orders must be unique" in p for p in found)


def test_duplicate_service_code_in_file():
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"].append(copy.deepcopy(data["services"][0]))
    assert any("listed twice" in p for p in problems(data))


def test_several_jurisdictions_need_explicit_ids():
    data = copy.deepcopy(TEST_CATALOGUE)
    data["jurisdictions"].append({"jurisdiction_id": "naperville.il.us", "name": "Naperville"})
    assert any("jurisdiction_id: required" in p for p in problems(data))


def test_not_an_object():
    assert problems([1, 2]) == ["The catalogue must be an object with jurisdictions and services."]


def test_unreadable_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("services: [\n")
    with pytest.raises(CatalogueError, match="not valid"):
        read_catalogue_file(path)
