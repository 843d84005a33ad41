"""Staff see where each request stands with its back end; the public never does."""

from __future__ import annotations

import pytest

from open311 import dispatch
from open311.keys import create_key
from tests.dispatch.conftest import B, post
from tests.helpers import error_descriptions, json_ok, xml_ok


@pytest.fixture
def admin_key(app):
    return create_key("311 center", admin=True)[1]


def detail(client, request_id, fmt="json", **query):
    return client.get(f"{B}/requests/{request_id}.{fmt}", query_string=query)


def test_states_from_queued_to_delivered(client, routed, api_key, admin_key, department):
    request_id = post(client, api_key)["service_request_id"]
    [item] = json_ok(detail(client, request_id, extensions="true", api_key=admin_key))
    assert item["dispatch"]["state"] == "queued"
    assert item["dispatch"]["backend"] == "streets"

    department.faults({"mode": "status", "status": 503})
    dispatch.work_once()
    [item] = json_ok(detail(client, request_id, extensions="true", api_key=admin_key))
    assert item["dispatch"]["state"] == "retrying"
    assert "HTTP 503" in item["dispatch"]["last_error"]
    assert item["dispatch"]["attempts"] == 1

    from tests.dispatch.conftest import settle

    settle()
    [record] = department.records()
    root = xml_ok(detail(client, request_id, "xml", extensions="true", api_key=admin_key))
    assert root.findtext("request/dispatch/state") == "delivered"
    assert root.findtext("request/dispatch/reference") == record["id"]


def test_public_output_has_no_vendor_internals(client, routed, api_key, department):
    request_id = post(client, api_key)["service_request_id"]
    dispatch.deliver_pending()
    [record] = department.records()
    for fmt in ("json", "xml"):
        body = detail(client, request_id, fmt).data
        assert record["id"].encode() not in body
        assert b"dispatch" not in body
        listed = client.get(f"{B}/requests.{fmt}").data
        assert record["id"].encode() not in listed


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_delivery_state_needs_an_admin_key(client, routed, api_key, fmt):
    request_id = post(client, api_key)["service_request_id"]
    # extensions=true is public (extended_attributes); the delivery state is for staff only.
    for query in ({"extensions": "true"}, {"extensions": "true", "api_key": api_key}):
        response = detail(client, request_id, fmt, **query)
        assert response.status_code == 200
        assert b"extended_attributes" in response.data
        assert b"dispatch" not in response.data
    wrong = detail(client, request_id, fmt, extensions="true", api_key="o311_wrong")
    assert wrong.status_code == 403
    assert "api_key" in error_descriptions(wrong)[0]
    assert detail(client, request_id, fmt, extensions="maybe").status_code == 400


def test_keys_create_admin_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "create", "--name", "staff", "--admin"])
    assert result.exit_code == 0
    from open311.keys import verify_key

    assert verify_key(result.output.strip().splitlines()[-1]).admin is True
