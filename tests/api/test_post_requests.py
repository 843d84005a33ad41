"""POST Service Request: checklist items P01-P25, T04 and T07, plus bad-input handling.

Every test runs on SQLite and on PostgreSQL (the ``app`` fixture). Stored rows are read back
through the models to prove what was (or was not) written.
"""

from __future__ import annotations

import copy
from io import BytesIO
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa
from lxml import etree

from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.models import ApiKey, Jurisdiction, ServiceRequest
from tests.helpers import PERSONAL, REQUEST_FIELDS, error_descriptions, json_ok, xml_ok

BASE = "/open311/v2"
FORMATS = ("xml", "json")
FORM = "application/x-www-form-urlencoded"
P01 = {"service_code": "S0", "lat": "41.88", "long": "-87.63", "description": "x"}
S1_OK = {"service_code": "S1", "lat": "41.88", "long": "-87.63", "attribute[REQ1]": "v"}


# -- helpers -----------------------------------------------------------------------------------


def post(client: Any, fmt: str, key: str | None, **fields: Any) -> Any:
    """POST a form (list values become repeated fields); ``key=None`` sends no api_key."""
    data = dict(fields)
    if key is not None:
        data["api_key"] = key
    return client.post(f"{BASE}/requests.{fmt}", data=data)


def post_raw(client: Any, fmt: str, body: str | bytes, content_type: str = FORM) -> Any:
    """POST a body exactly as given."""
    return client.post(f"{BASE}/requests.{fmt}", data=body, content_type=content_type)


def receipts(response: Any, fmt: str) -> list[dict[str, Any]]:
    """The ``service_requests`` list of a 200 answer; XML values are the element texts."""
    if fmt == "xml":
        root = xml_ok(response)
        assert root.tag == "service_requests"
        assert [child.tag for child in root] == ["request"] * len(root)
        items = []
        for request in root:
            tags = [child.tag for child in request]
            assert len(tags) == len(set(tags)), f"repeated element in {tags}"
            assert all(len(child) == 0 for child in request)
            items.append({child.tag: child.text for child in request})
        return items
    body = json_ok(response)
    assert isinstance(body, list)
    assert all(isinstance(item, dict) for item in body)
    return body


def one_receipt(response: Any, fmt: str) -> dict[str, Any]:
    items = receipts(response, fmt)
    assert len(items) == 1, items
    return items[0]


def new_id(response: Any, fmt: str) -> str:
    """The ``service_request_id`` of a realtime POST answer."""
    receipt = one_receipt(response, fmt)
    assert "token" not in receipt
    value = receipt["service_request_id"]
    assert isinstance(value, str)
    assert value
    return value


def error_ok(response: Any, status: int, fmt: str) -> list[str]:
    """Assert a GeoReport error body in ``fmt`` with ``status``; return its descriptions."""
    assert response.status_code == status, response.data
    if fmt == "xml":
        assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
        assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    else:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    descriptions = error_descriptions(response)
    assert all(d for d in descriptions)
    return descriptions


def stored() -> list[ServiceRequest]:
    """Every stored request, oldest first, read fresh from the database."""
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ServiceRequest).order_by(ServiceRequest.id)))


def count_stored() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest))


def only_stored() -> ServiceRequest:
    rows = stored()
    assert len(rows) == 1, rows
    return rows[0]


def get_one(client: Any, fmt: str, service_request_id: str) -> dict[str, Any]:
    """GET requests/{id} in ``fmt`` and return its only request."""
    response = client.get(f"{BASE}/requests/{quote(service_request_id, safe='')}.{fmt}")
    item = one_receipt(response, fmt)
    assert item["service_request_id"] == service_request_id
    return item


# -- P01-P02: the happy path ---------------------------------------------------------------------


def test_p01_post_xml_returns_id(client, catalogue, api_key):
    response = post(client, "xml", api_key, **P01)
    root = xml_ok(response)
    assert root.tag == "service_requests"
    requests = root.findall("request")
    assert len(requests) == 1
    assert len(root) == 1
    service_request_id = requests[0].findtext("service_request_id")
    assert service_request_id
    assert requests[0].find("token") is None
    assert root.find(".//token") is None

    row = only_stored()
    assert row.service_request_id == service_request_id
    assert row.service_code == "S0"
    assert row.status == "open"
    assert row.description == "x"
    assert row.lat == pytest.approx(41.88)
    assert row.long == pytest.approx(-87.63)


def test_p02_post_json_returns_one_object_with_string_id(client, catalogue, api_key):
    body = json_ok(post(client, "json", api_key, **P01))
    assert isinstance(body, list)
    assert len(body) == 1
    assert isinstance(body[0], dict)
    service_request_id = body[0]["service_request_id"]
    assert isinstance(service_request_id, str)
    assert service_request_id
    assert "token" not in body[0]
    assert only_stored().service_request_id == service_request_id


def test_p02_post_answer_round_trips_through_get(client, catalogue, api_key):
    service_request_id = new_id(post(client, "json", api_key, **P01), "json")
    item = get_one(client, "json", service_request_id)
    assert set(item) == set(REQUEST_FIELDS)
    assert item["service_code"] == "S0"
    assert item["description"] == "x"
    assert item["status"] == "open"
    assert item["lat"] == pytest.approx(41.88, abs=1e-6)
    assert item["long"] == pytest.approx(-87.63, abs=1e-6)


# -- P03-P04: the api key ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_p03_missing_api_key_is_403(client, catalogue, api_key, fmt):
    response = post(client, fmt, None, **P01)
    error_ok(response, 403, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p03_blank_api_key_is_403(client, catalogue, api_key, fmt):
    error_ok(post(client, fmt, "", **P01), 403, fmt)
    error_ok(post(client, fmt, "   ", **P01), 403, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p04_wrong_api_key_is_403(client, catalogue, api_key, fmt):
    error_ok(post(client, fmt, "wrong", **P01), 403, fmt)
    error_ok(post(client, fmt, api_key + "x", **P01), 403, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p04_revoked_api_key_is_403(client, catalogue, api_key, fmt):
    assert post(client, fmt, api_key, **P01).status_code == 200
    for row in db.session.scalars(sa.select(ApiKey)):
        row.revoked_at = row.created_at
    db.session.commit()
    error_ok(post(client, fmt, api_key, **P01), 403, fmt)
    assert count_stored() == 1


# -- P05-P11: service code and location ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_p05_missing_service_code_is_400(client, catalogue, api_key, fmt):
    form = {k: v for k, v in P01.items() if k != "service_code"}
    descriptions = error_ok(post(client, fmt, api_key, **form), 400, fmt)
    assert any("service_code" in d for d in descriptions), descriptions
    descriptions = error_ok(post(client, fmt, api_key, **form, service_code=""), 400, fmt)
    assert any("service_code" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p06_unknown_service_code_is_404(client, catalogue, api_key, fmt):
    descriptions = error_ok(
        post(client, fmt, api_key, **{**P01, "service_code": "NO_SUCH"}), 404, fmt
    )
    assert any("NO_SUCH" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p06_retired_service_takes_no_requests(client, catalogue, api_key, fmt):
    new_id(post(client, fmt, api_key, **P01), fmt)
    reduced = copy.deepcopy(catalogue)
    reduced["services"] = [s for s in reduced["services"] if s["service_code"] != "S0"]
    import_catalogue(reduced)
    error_ok(post(client, fmt, api_key, **P01), 404, fmt)
    assert count_stored() == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_p07_no_location_is_400(client, catalogue, api_key, fmt):
    error_ok(post(client, fmt, api_key, service_code="S0", description="x"), 400, fmt)
    blanks = {"lat": "", "long": "", "address_string": "", "address_id": " "}
    error_ok(post(client, fmt, api_key, service_code="S0", **blanks), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p08_address_string_only(client, catalogue, api_key, fmt):
    response = post(client, fmt, api_key, service_code="S0", address_string="1 Main St")
    service_request_id = new_id(response, fmt)
    for out in FORMATS:
        item = get_one(client, out, service_request_id)
        assert item["address"] == "1 Main St"
        assert item["lat"] is None
        assert item["long"] is None
    assert only_stored().address == "1 Main St"


@pytest.mark.parametrize("fmt", FORMATS)
def test_p09_address_id_only(client, catalogue, api_key, fmt):
    response = post(client, fmt, api_key, service_code="S0", address_id="A-123")
    service_request_id = new_id(response, fmt)
    for out in FORMATS:
        item = get_one(client, out, service_request_id)
        assert item["address_id"] == "A-123"
        assert item["address"] is None
    assert only_stored().address_id == "A-123"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("half", [{"lat": "41.88"}, {"long": "-87.63"}])
def test_p10_lat_without_long_is_400(client, catalogue, api_key, fmt, half):
    error_ok(post(client, fmt, api_key, service_code="S0", **half), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("lat", "long"), [("95", "0"), ("-90.5", "0"), ("0", "200"), ("0", "-180.01")]
)
def test_p11_out_of_range_coordinates_are_400(client, catalogue, api_key, fmt, lat, long):
    error_ok(post(client, fmt, api_key, service_code="S0", lat=lat, long=long), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize(("lat", "long"), [("90", "180"), ("-90", "-180")])
def test_p11_boundary_coordinates_are_accepted(client, catalogue, api_key, lat, long):
    new_id(post(client, "json", api_key, service_code="S0", lat=lat, long=long), "json")
    row = only_stored()
    assert (row.lat, row.long) == (float(lat), float(long))


# -- P12-P16: attributes -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_p12_missing_required_attribute_is_400_naming_it(client, catalogue, api_key, fmt):
    form = {k: v for k, v in S1_OK.items() if k != "attribute[REQ1]"}
    descriptions = error_ok(post(client, fmt, api_key, **form), 400, fmt)
    assert any("REQ1" in d for d in descriptions), descriptions
    blank = {**form, "attribute[REQ1]": "  "}
    descriptions = error_ok(post(client, fmt, api_key, **blank), 400, fmt)
    assert any("REQ1" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p13_singlevaluelist_valid_key_is_stored(client, catalogue, api_key, fmt):
    new_id(post(client, fmt, api_key, **S1_OK, **{"attribute[SEL]": "a"}), fmt)
    assert only_stored().attributes == {"REQ1": "v", "SEL": "a"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_p13_singlevaluelist_unknown_key_is_400(client, catalogue, api_key, fmt):
    descriptions = error_ok(
        post(client, fmt, api_key, **S1_OK, **{"attribute[SEL]": "zzz"}), 400, fmt
    )
    assert any("SEL" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p13_singlevaluelist_two_different_values_is_400(client, catalogue, api_key, fmt):
    descriptions = error_ok(
        post(client, fmt, api_key, **S1_OK, **{"attribute[SEL]": ["a", "b"]}), 400, fmt
    )
    assert any("SEL" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p14_multivaluelist_with_brackets_stores_all_values(client, catalogue, api_key, fmt):
    new_id(post(client, fmt, api_key, **S1_OK, **{"attribute[MUL][]": ["x", "z"]}), fmt)
    assert only_stored().attributes == {"REQ1": "v", "MUL": ["x", "z"]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_p15_multivaluelist_repeated_without_brackets(client, catalogue, api_key, fmt):
    new_id(post(client, fmt, api_key, **S1_OK, **{"attribute[MUL]": ["x", "z"]}), fmt)
    assert only_stored().attributes == {"REQ1": "v", "MUL": ["x", "z"]}


def test_p15_both_spellings_merge_without_duplicates(client, catalogue, api_key):
    form = {**S1_OK, "attribute[MUL]": ["x"], "attribute[MUL][]": ["z", "x"]}
    new_id(post(client, "json", api_key, **form), "json")
    assert only_stored().attributes["MUL"] == ["x", "z"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_p15_multivaluelist_unknown_key_is_400(client, catalogue, api_key, fmt):
    form = {**S1_OK, "attribute[MUL][]": ["x", "w"]}
    descriptions = error_ok(post(client, fmt, api_key, **form), 400, fmt)
    assert any("MUL" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p16_empty_optional_answers_are_absent(client, catalogue, api_key, fmt):
    form = {
        **S1_OK,
        "attribute[SEL]": "",
        "attribute[MUL][]": "",
        "attribute[NUM]": "",
        "attribute[WHEN]": "",
        "attribute[TXT]": " ",
    }
    new_id(post(client, fmt, api_key, **form), fmt)
    assert only_stored().attributes == {"REQ1": "v"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", ["abc", "nan", "inf", "1e309", "1,5"])
def test_p16_non_numeric_number_is_400(client, catalogue, api_key, fmt, value):
    descriptions = error_ok(
        post(client, fmt, api_key, **S1_OK, **{"attribute[NUM]": value}), 400, fmt
    )
    assert any("NUM" in d for d in descriptions), descriptions
    assert count_stored() == 0


def test_p16_number_and_datetime_answers_are_stored(client, catalogue, api_key):
    form = {**S1_OK, "attribute[NUM]": "12.5", "attribute[WHEN]": "2024-05-01T08:30:00Z"}
    new_id(post(client, "json", api_key, **form), "json")
    attributes = only_stored().attributes
    assert float(attributes["NUM"]) == 12.5
    assert attributes["WHEN"] == "2024-05-01T08:30:00Z"


@pytest.mark.parametrize("fmt", FORMATS)
def test_p16_unparseable_datetime_is_400(client, catalogue, api_key, fmt):
    form = {**S1_OK, "attribute[WHEN]": "last tuesday"}
    descriptions = error_ok(post(client, fmt, api_key, **form), 400, fmt)
    assert any("WHEN" in d for d in descriptions), descriptions
    assert count_stored() == 0


def test_p16_text_takes_lines_string_does_not(client, catalogue, api_key):
    form = {**S1_OK, "attribute[TXT]": "line one\nline two"}
    new_id(post(client, "json", api_key, **form), "json")
    assert only_stored().attributes["TXT"] == "line one\nline two"
    bad = {**S1_OK, "attribute[REQ1]": "tag\n42"}
    descriptions = error_ok(post(client, "json", api_key, **bad), 400, "json")
    assert any("REQ1" in d for d in descriptions), descriptions
    assert count_stored() == 1


def test_p16_informational_attribute_answer_is_ignored(client, catalogue, api_key):
    new_id(post(client, "json", api_key, **S1_OK, **{"attribute[INFO]": "mine"}), "json")
    assert only_stored().attributes == {"REQ1": "v"}


def test_p16_unknown_attribute_code_is_kept(client, catalogue, api_key):
    new_id(post(client, "json", api_key, **S1_OK, **{"attribute[EXTRA]": "kept"}), "json")
    assert only_stored().attributes == {"REQ1": "v", "EXTRA": "kept"}


# -- P17: description length ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_p17_description_over_4000_characters_is_400(client, catalogue, api_key, fmt):
    error_ok(post(client, fmt, api_key, **{**P01, "description": "d" * 4001}), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("char", ["d", "ü", "✓", "😀"])
def test_p17_description_of_4000_characters_round_trips(client, catalogue, api_key, char):
    text = (char * 3999) + "."
    service_request_id = new_id(
        post(client, "json", api_key, **{**P01, "description": text}), "json"
    )
    for fmt in FORMATS:
        assert get_one(client, fmt, service_request_id)["description"] == text
    assert only_stored().description == text


# -- P18-P22: receipts by service type ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("service_code", ["S0", "S1", "SB", "SX"])
def test_p18_never_both_id_and_token(client, catalogue, api_key, fmt, service_code):
    form = {**S1_OK, "service_code": service_code}
    response = post(client, fmt, api_key, **form)
    receipt = one_receipt(response, fmt)
    assert not ("service_request_id" in receipt and "token" in receipt), receipt
    if fmt == "xml":
        assert not (b"<service_request_id" in response.data and b"<token" in response.data)
    assert count_stored() == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_p19_batch_returns_token_without_id(client, catalogue, api_key, fmt):
    receipt = one_receipt(post(client, fmt, api_key, **{**P01, "service_code": "SB"}), fmt)
    assert "service_request_id" not in receipt
    assert isinstance(receipt["token"], str)
    assert receipt["token"]
    row = only_stored()
    assert row.service_code == "SB"
    assert row.token is not None
    assert row.token.token == receipt["token"]


def test_p19_tokens_are_distinct(client, catalogue, api_key):
    tokens = {
        one_receipt(post(client, "json", api_key, **{**P01, "service_code": "SB"}), "json")["token"]
        for _ in range(3)
    }
    assert len(tokens) == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_p20_blackbox_returns_neither_id_nor_token(client, catalogue, api_key, fmt):
    receipt = one_receipt(post(client, fmt, api_key, **{**P01, "service_code": "SX"}), fmt)
    assert "service_request_id" not in receipt
    assert "token" not in receipt
    assert only_stored().service_code == "SX"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("service_code", ["S0", "SB", "SX"])
def test_p21_account_id_echo_and_service_notice(client, catalogue, api_key, fmt, service_code):
    form = {**P01, "service_code": service_code, "account_id": "acc-9"}
    receipt = one_receipt(post(client, fmt, api_key, **form), fmt)
    if "account_id" in receipt:
        assert receipt["account_id"] == "acc-9"
    if receipt.get("service_notice") is not None:
        assert isinstance(receipt["service_notice"], str)
        assert receipt["service_notice"]
    assert only_stored().account_id == "acc-9"


@pytest.mark.parametrize("fmt", FORMATS)
def test_p22_blank_email_behaves_like_no_email(client, catalogue, api_key, fmt):
    with_blank = one_receipt(post(client, fmt, api_key, **P01, email=""), fmt)
    without = one_receipt(post(client, fmt, api_key, **P01), fmt)
    assert set(with_blank) == set(without)
    assert {k: v for k, v in with_blank.items() if k != "service_request_id"} == {
        k: v for k, v in without.items() if k != "service_request_id"
    }
    assert [row.email for row in stored()] == [None, None]


def test_p22_every_blank_optional_field_is_absent(client, catalogue, api_key):
    blanks = {
        name: ""
        for name in (
            "jurisdiction_id",
            "address_string",
            "address_id",
            "email",
            "device_id",
            "account_id",
            "first_name",
            "last_name",
            "phone",
            "description",
            "media_url",
            "channel",
        )
    }
    service_request_id = new_id(post(client, "json", api_key, **{**P01, **blanks}), "json")
    row = only_stored()
    for name in ("address", "address_id", "media_url", "channel", "description", *PERSONAL):
        assert getattr(row, name) is None, name
    item = get_one(client, "json", service_request_id)
    assert item["media_url"] is None
    assert item["description"] is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_p22_malformed_email_is_400(client, catalogue, api_key, fmt):
    descriptions = error_ok(post(client, fmt, api_key, **P01, email="not-an-address"), 400, fmt)
    assert any("email" in d for d in descriptions), descriptions
    assert count_stored() == 0


# -- P23: jurisdictions --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_p23_multi_jurisdiction_requires_a_known_jurisdiction(
    client, multi_catalogue, api_key, fmt
):
    descriptions = error_ok(post(client, fmt, api_key, **P01), 400, fmt)
    assert any("jurisdiction_id" in d for d in descriptions), descriptions
    error_ok(post(client, fmt, api_key, **P01, jurisdiction_id="nowhere.example"), 404, fmt)
    assert count_stored() == 0


def test_p23_multi_jurisdiction_stores_in_the_named_one(client, multi_catalogue, api_key):
    for name in ("naperville.il.us", "aurora-il.org"):
        new_id(post(client, "json", api_key, **P01, jurisdiction_id=name), "json")
    rows = stored()
    names = [db.session.get(Jurisdiction, row.jurisdiction_pk).jurisdiction_id for row in rows]
    assert names == ["naperville.il.us", "aurora-il.org"]
    assert all(row.service.jurisdiction_pk == row.jurisdiction_pk for row in rows)


@pytest.mark.parametrize("fmt", FORMATS)
def test_p23_single_jurisdiction_checks_a_given_id(client, catalogue, api_key, fmt):
    new_id(post(client, fmt, api_key, **P01, jurisdiction_id="aurora-il.org"), fmt)
    error_ok(post(client, fmt, api_key, **P01, jurisdiction_id="naperville.il.us"), 404, fmt)
    assert count_stored() == 1


# -- P24-P25 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_p24_media_url_round_trips(client, catalogue, api_key, fmt):
    url = "https://example.org/a.jpg"
    service_request_id = new_id(post(client, fmt, api_key, **P01, media_url=url), fmt)
    for out in FORMATS:
        assert get_one(client, out, service_request_id)["media_url"] == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.org/a.jpg", "a.jpg"])
def test_p24_non_http_media_url_is_400(client, catalogue, api_key, url):
    descriptions = error_ok(post(client, "json", api_key, **P01, media_url=url), 400, "json")
    assert any("media_url" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p25_multipart_post_is_accepted(client, catalogue, api_key, fmt):
    response = client.post(
        f"{BASE}/requests.{fmt}",
        data={**P01, "api_key": api_key},
        content_type="multipart/form-data",
    )
    service_request_id = new_id(response, fmt)
    row = only_stored()
    assert row.service_request_id == service_request_id
    assert (row.service_code, row.description) == ("S0", "x")
    assert (row.lat, row.long) == (41.88, -87.63)


def test_p25_multipart_carries_repeated_attributes(client, catalogue, api_key):
    response = client.post(
        f"{BASE}/requests.json",
        data={**S1_OK, "attribute[MUL][]": ["x", "y"], "api_key": api_key},
        content_type="multipart/form-data",
    )
    new_id(response, "json")
    assert only_stored().attributes == {"REQ1": "v", "MUL": ["x", "y"]}


# -- T04, T07: text round trips ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_t04_unicode_description_round_trips(client, catalogue, api_key, fmt):
    text = "Straße – ünïcödé ✓"
    body = urlencode({**P01, "description": text, "api_key": api_key}, encoding="utf-8")
    assert "%C3%9F" in body  # percent-encoded UTF-8, as a browser sends it
    service_request_id = new_id(post_raw(client, fmt, body), fmt)
    xml_item = get_one(client, "xml", service_request_id)
    json_item = get_one(client, "json", service_request_id)
    assert xml_item["description"] == json_item["description"] == text
    assert only_stored().description == text


@pytest.mark.parametrize("fmt", FORMATS)
def test_t07_markup_characters_are_escaped_and_round_trip(client, catalogue, api_key, fmt):
    text = "a<b & c"
    service_request_id = new_id(post(client, fmt, api_key, **{**P01, "description": text}), fmt)
    response = client.get(f"{BASE}/requests/{service_request_id}.xml")
    xml_ok(response)
    assert b"a&lt;b &amp; c" in response.data
    assert b"a<b" not in response.data
    assert get_one(client, "xml", service_request_id)["description"] == text
    assert get_one(client, "json", service_request_id)["description"] == text


# -- personal fields -----------------------------------------------------------------------------


def test_personal_fields_are_never_published(client, catalogue, api_key):
    form = {**P01, **PERSONAL}
    service_request_id = new_id(post(client, "json", api_key, **form), "json")
    row = only_stored()
    for name, value in PERSONAL.items():
        assert getattr(row, name) == value, name  # accepted and stored for the city

    urls = [
        f"{BASE}/requests.json",
        f"{BASE}/requests.xml",
        f"{BASE}/requests/{service_request_id}.json",
        f"{BASE}/requests/{service_request_id}.xml",
        f"{BASE}/requests.json?service_request_id={service_request_id}",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.data)
        assert service_request_id.encode() in response.data, url
        for name, value in PERSONAL.items():
            assert value.encode() not in response.data, (url, name)
        if url.endswith(".xml"):
            root = etree.fromstring(response.data)
            assert not {el.tag for el in root.iter()} & set(PERSONAL), url
        else:
            for item in json_ok(response):
                assert not set(item) & set(PERSONAL), url


def test_personal_fields_are_not_published_for_batch_requests(client, catalogue, api_key):
    form = {**P01, **PERSONAL, "service_code": "SB"}
    token = one_receipt(post(client, "json", api_key, **form), "json")["token"]
    for url in (
        f"{BASE}/tokens/{token}.json",
        f"{BASE}/tokens/{token}.xml",
        f"{BASE}/requests.json",
        f"{BASE}/requests.xml",
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.data)
        for value in PERSONAL.values():
            assert value.encode() not in response.data, url


# -- bad input: 4xx, a GeoReport error body, nothing stored -------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_input_unknown_form_field_is_400(client, catalogue, api_key, fmt):
    descriptions = error_ok(post(client, fmt, api_key, **P01, colour="red"), 400, fmt)
    assert any("colour" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["lat", "long"])
@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e309"])
def test_bad_input_non_finite_coordinate_is_400(client, catalogue, api_key, fmt, name, value):
    descriptions = error_ok(post(client, fmt, api_key, **{**P01, name: value}), 400, fmt)
    assert any(name in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", ["abc", "41,88", "0x10"])
def test_bad_input_non_numeric_coordinate_is_400(client, catalogue, api_key, fmt, value):
    error_ok(post(client, fmt, api_key, **{**P01, "lat": value}), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_input_json_body_is_400(client, catalogue, api_key, fmt):
    response = client.post(f"{BASE}/requests.{fmt}", json={**P01, "api_key": api_key})
    error_ok(response, 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_bad_input_other_content_types_are_400(client, catalogue, api_key, fmt, content_type):
    body = urlencode({**P01, "api_key": api_key})
    response = client.post(f"{BASE}/requests.{fmt}", data=body, content_type=content_type)
    error_ok(response, 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_input_nul_in_description_is_400(client, catalogue, api_key, fmt):
    body = urlencode({**P01, "api_key": api_key, "description": "a\x00b"})
    assert "a%00b" in body
    descriptions = error_ok(post_raw(client, fmt, body), 400, fmt)
    assert any("description" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "field", ["address_string", "address_id", "first_name", "phone", "device_id", "service_code"]
)
def test_bad_input_control_characters_in_text_fields_are_400(
    client, catalogue, api_key, fmt, field
):
    form = {**P01, "address_string": "1 Main St", field: "bad\x00value"}
    descriptions = error_ok(post(client, fmt, api_key, **form), 400, fmt)
    assert any(field in d for d in descriptions), descriptions
    form[field] = "bad\x07value"
    error_ok(post(client, fmt, api_key, **form), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "answer",
    [
        {"attribute[REQ1]": "tag\x00"},
        {"attribute[TXT]": "text\x00"},
        {"attribute[EXTRA]": "unknown\x00code"},
        {"attribute[EX\x00TRA]": "value"},
    ],
    ids=["string", "text", "unknown-code-value", "nul-in-code"],
)
def test_bad_input_nul_in_attributes_is_400(client, catalogue, api_key, fmt, answer):
    error_ok(post(client, fmt, api_key, **{**S1_OK, **answer}), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_input_field_sent_twice_with_different_values_is_400(client, catalogue, api_key, fmt):
    descriptions = error_ok(
        post(client, fmt, api_key, **{**P01, "service_code": ["S0", "SX"]}), 400, fmt
    )
    assert any("service_code" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_input_body_over_limit_is_413(app, client, catalogue, api_key, fmt):
    limit = 2048
    previous = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = limit
    try:
        small = post(client, fmt, api_key, **P01)
        assert small.status_code == 200, small.data
        big = post(client, fmt, api_key, **{**P01, "description": "d" * (limit + 10)})
        error_ok(big, 413, fmt)
        big_multipart = client.post(
            f"{BASE}/requests.{fmt}",
            data={**P01, "api_key": api_key, "description": "d" * (limit + 10)},
            content_type="multipart/form-data",
        )
        error_ok(big_multipart, 413, fmt)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = previous
    assert count_stored() == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_input_file_upload_is_400(client, catalogue, api_key, fmt):
    response = client.post(
        f"{BASE}/requests.{fmt}",
        data={**P01, "api_key": api_key, "media": (BytesIO(b"\xff\xd8\xff"), "a.jpg")},
        content_type="multipart/form-data",
    )
    error_ok(response, 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("char", ["\x00", "\x07", "\ufffe"], ids=["nul", "bel", "ufffe"])
def test_bad_input_control_characters_in_media_url_are_400(client, catalogue, api_key, fmt, char):
    url = f"https://example.org/a{char}b.jpg"
    descriptions = error_ok(post(client, fmt, api_key, **P01, media_url=url), 400, fmt)
    assert any("media_url" in d for d in descriptions), descriptions
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_input_too_many_attributes_is_400(client, catalogue, api_key, fmt):
    extra = {f"attribute[X{n}]": "v" for n in range(101)}
    error_ok(post(client, fmt, api_key, **S1_OK, **extra), 400, fmt)
    assert count_stored() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_p24_bad_media_url_cannot_break_the_xml_feed(client, catalogue, api_key, fmt):
    good = new_id(post(client, fmt, api_key, **P01), fmt)
    post(client, fmt, api_key, **P01, media_url="https://example.org/a\x07b.jpg")
    for url in (f"{BASE}/requests.xml", f"{BASE}/requests/{good}.xml"):
        root = xml_ok(client.get(url))
        assert good in [r.findtext("service_request_id") for r in root]
    for row in stored():
        if row.service_request_id != good:
            assert xml_ok(client.get(f"{BASE}/requests/{row.service_request_id}.xml"))


def _multipart(fields: dict[str, bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    """A hand-built multipart body, so that raw (even invalid UTF-8) bytes can be sent."""
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value
        + b"\r\n"
        for name, value in fields.items()
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_t04_undecodable_utf8_is_400(client, catalogue, api_key, fmt):
    body = urlencode({**P01, "api_key": api_key}).replace("description=x", "description=Stra%DFe")
    error_ok(post_raw(client, fmt, body), 400, fmt)
    fields = {k: v.encode() for k, v in {**P01, "api_key": api_key}.items()}
    # The hand-built multipart body itself is fine: with valid UTF-8 it is accepted.
    new_id(post_raw(client, fmt, *_multipart({**fields, "description": "Straße".encode()})), fmt)
    assert only_stored().description == "Straße"
    response = post_raw(client, fmt, *_multipart({**fields, "description": b"Stra\xdfe"}))
    error_ok(response, 400, fmt)
    assert count_stored() == 1
