"""GET tokens/{token}: checklist items K01-K04 (with P19's batch POST as the source of tokens)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from open311 import dispatch
from open311.extensions import db
from open311.models import ServiceRequest, Token
from tests.helpers import error_descriptions, json_ok, spark_document, xml_ok

BASE = "/open311/v2"
FORMATS = ("xml", "json")
BATCH = {"service_code": "SB", "lat": "41.88", "long": "-87.63", "description": "lead line"}


def post_batch(client: Any, key: str, fmt: str = "json", **extra: str) -> str:
    """POST to the batch service SB and return the token of the answer (P19)."""
    response = client.post(f"{BASE}/requests.{fmt}", data={**BATCH, **extra, "api_key": key})
    if fmt == "xml":
        root = xml_ok(response)
        assert root.find("request/service_request_id") is None
        token = root.findtext("request/token")
    else:
        body = json_ok(response)
        assert len(body) == 1
        assert "service_request_id" not in body[0]
        token = body[0]["token"]
    assert isinstance(token, str)
    assert token
    return token


def lookup(client: Any, token: str, fmt: str, **query: str) -> dict[str, Any]:
    """GET tokens/{token} in ``fmt``; the only request of the answer, as a dict of strings."""
    response = client.get(f"{BASE}/tokens/{token}.{fmt}", query_string=query)
    if fmt == "xml":
        root = xml_ok(response)
        assert root.tag == "service_requests"
        assert [child.tag for child in root] == ["request"]
        request = root[0]
        tags = [child.tag for child in request]
        assert len(tags) == len(set(tags)), tags
        return {child.tag: child.text for child in request}
    body = json_ok(response)
    assert isinstance(body, list)
    assert len(body) == 1
    assert isinstance(body[0], dict)
    return body[0]


def error_ok(response: Any, status: int, fmt: str) -> list[str]:
    """Assert a GeoReport error body in ``fmt`` with ``status``; return its descriptions."""
    assert response.status_code == status, response.data
    if fmt == "xml":
        assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
        assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    else:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return error_descriptions(response)


def batch_row() -> ServiceRequest:
    db.session.expire_all()
    rows = list(db.session.scalars(sa.select(ServiceRequest)))
    assert len(rows) == 1
    assert rows[0].service_code == "SB"
    return rows[0]


# -- K01 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("post_fmt", FORMATS)
def test_k01_token_lookup_xml_returns_the_token(client, catalogue, api_key, post_fmt):
    token = post_batch(client, api_key, post_fmt)
    item = lookup(client, token, "xml")
    assert item["token"] == token
    assert set(item) <= {"token", "service_request_id"}


def test_k01_inline_dispatch_resolves_the_token_at_once(client, catalogue, api_key):
    token = post_batch(client, api_key)
    item = lookup(client, token, "xml")
    assert item == {"token": token, "service_request_id": batch_row().service_request_id}
    assert item["service_request_id"]
    assert batch_row().token.accepted_at is not None


def test_k01_each_token_names_its_own_request(client, catalogue, api_key):
    first = post_batch(client, api_key, description="first")
    second = post_batch(client, api_key, description="second")
    assert first != second
    for token, description in ((first, "first"), (second, "second")):
        service_request_id = lookup(client, token, "json")["service_request_id"]
        row = db.session.scalar(
            sa.select(ServiceRequest).where(ServiceRequest.service_request_id == service_request_id)
        )
        assert row.description == description
        assert row.token.token == token


def test_k01_multi_jurisdiction_token_lookup(client, multi_catalogue, api_key):
    token = post_batch(client, api_key, jurisdiction_id="naperville.il.us")
    assert lookup(client, token, "xml", jurisdiction_id="naperville.il.us")["token"] == token
    response = client.get(f"{BASE}/tokens/{token}.xml")
    error_ok(response, 400, "xml")
    response = client.get(f"{BASE}/tokens/{token}.json?jurisdiction_id=aurora-il.org")
    error_ok(response, 404, "json")
    response = client.get(f"{BASE}/tokens/{token}.json?jurisdiction_id=nowhere.example")
    error_ok(response, 404, "json")


# -- K02 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_k02_pending_token_has_no_id_until_delivered(client, catalogue, api_key, set_setting, fmt):
    set_setting(dispatch="manual")
    token = post_batch(client, api_key, fmt)

    before = lookup(client, token, fmt)
    assert before == {"token": token}
    raw = client.get(f"{BASE}/tokens/{token}.{fmt}").data
    assert b"service_request_id" not in raw
    assert batch_row().token.accepted_at is None

    assert dispatch.deliver_pending() == 1

    after = lookup(client, token, fmt)
    assert after["token"] == token
    service_request_id = after["service_request_id"]
    assert isinstance(service_request_id, str)
    assert service_request_id
    assert service_request_id == batch_row().service_request_id

    detail = client.get(f"{BASE}/requests/{service_request_id}.xml")
    root = xml_ok(detail)
    assert [child.tag for child in root] == ["request"]
    assert root.findtext("request/service_request_id") == service_request_id
    assert root.findtext("request/service_code") == "SB"
    assert root.findtext("request/description") == "lead line"

    assert dispatch.deliver_pending() == 0
    assert lookup(client, token, fmt) == after


def test_k02_only_waiting_tokens_are_delivered(client, catalogue, api_key, set_setting):
    set_setting(dispatch="manual")
    first = post_batch(client, api_key)
    second = post_batch(client, api_key)
    assert dispatch.deliver_pending() == 2
    third = post_batch(client, api_key)
    assert "service_request_id" not in lookup(client, third, "json")
    assert dispatch.deliver_pending() == 1
    ids = {lookup(client, token, "json")["service_request_id"] for token in (first, second, third)}
    assert len(ids) == 3
    accepted = db.session.scalars(sa.select(Token.accepted_at)).all()
    assert len(accepted) == 3
    assert all(accepted)


# -- K03 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_k03_unknown_token_is_404(client, catalogue, api_key, fmt):
    post_batch(client, api_key)
    error_ok(client.get(f"{BASE}/tokens/NO_SUCH.{fmt}"), 404, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_k03_token_prefix_or_variant_is_404(client, catalogue, api_key, fmt):
    token = post_batch(client, api_key)
    error_ok(client.get(f"{BASE}/tokens/{token[:-1]}.{fmt}"), 404, fmt)
    error_ok(client.get(f"{BASE}/tokens/{token}x.{fmt}"), 404, fmt)
    swapped = token.swapcase()
    assert swapped != token  # 22 random URL-safe characters always include a letter
    error_ok(client.get(f"{BASE}/tokens/{swapped}.{fmt}"), 404, fmt)


def test_k03_token_without_suffix_is_404_xml(client, catalogue, api_key):
    token = post_batch(client, api_key)
    response = client.get(f"{BASE}/tokens/{token}")
    error_ok(response, 404, "xml")


# -- K04 -----------------------------------------------------------------------------------------


def test_k04_token_json_is_array_of_one_object(client, catalogue, api_key):
    token = post_batch(client, api_key)
    body = json_ok(client.get(f"{BASE}/tokens/{token}.json"))
    assert isinstance(body, list)
    assert len(body) == 1
    assert isinstance(body[0]["token"], str)
    assert body[0]["token"] == token
    assert isinstance(body[0]["service_request_id"], str)


def test_k04_pending_token_json_is_array_of_one_object(client, catalogue, api_key, set_setting):
    set_setting(dispatch="manual")
    token = post_batch(client, api_key)
    body = json_ok(client.get(f"{BASE}/tokens/{token}.json"))
    assert body == [{"token": token}]


@pytest.mark.parametrize("dispatch_mode", ["inline", "manual"])
def test_k04_json_is_the_spark_transform_of_xml(
    client, catalogue, api_key, set_setting, dispatch_mode
):
    set_setting(dispatch=dispatch_mode)
    token = post_batch(client, api_key)
    xml = client.get(f"{BASE}/tokens/{token}.xml")
    xml_ok(xml)
    body = json_ok(client.get(f"{BASE}/tokens/{token}.json"))
    assert body == spark_document(xml.data)


def test_k04_token_lookup_needs_no_api_key_and_allows_cors(client, catalogue, api_key):
    token = post_batch(client, api_key)
    response = client.get(f"{BASE}/tokens/{token}.json")
    json_ok(response)
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
