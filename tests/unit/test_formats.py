"""JSON and XML renderings of one dumped document."""

import orjson
from lxml import etree

from open311.formats import to_json, to_xml
from tests.helpers import spark_document


def test_xml_declaration_and_escaping():
    body = to_xml("errors", [{"code": 400, "description": 'a<b & c ]]> "q"'}])
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<errors>')
    root = etree.fromstring(body)
    assert root.findtext("error/description") == 'a<b & c ]]> "q"'


def test_booleans_none_and_empty_lists():
    data = {"service_code": "S", "attributes": [], "flag": True, "nothing": None}
    root = etree.fromstring(to_xml("service_definition", data))
    assert root.findtext("flag") == "true"
    assert root.find("nothing").text is None
    assert len(root.find("attributes")) == 0


def test_json_and_xml_come_from_the_same_data():
    data = [{"service_code": "001", "metadata": False, "keywords": "a, b", "group": None}]
    assert orjson.loads(to_json(data)) == spark_document(to_xml("services", data))


def test_unicode_is_utf8_not_entities():
    body = to_xml("errors", [{"code": 400, "description": "Straße ✓"}])
    assert "Straße ✓".encode() in body


def test_text_xml_cannot_carry_is_written_as_an_escape():
    # Found by schemathesis: an error quoting a parameter named "\x01" made lxml raise (500).
    body = to_xml("errors", [{"code": 400, "description": "\x01: Unknown field. \ud800 \ufffe"}])
    root = etree.fromstring(body)
    assert root.findtext("error/description") == "\\x01: Unknown field. \\ud800 \\ufffe"
