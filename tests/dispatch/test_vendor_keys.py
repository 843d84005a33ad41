"""Vendor keys: the vendor portal API (its own requests with contacts, and their updates)."""

from __future__ import annotations

import copy

from open311 import dispatch
from open311.catalogue import import_catalogue
from open311.keys import create_key
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import B, citysourced_backend, department_backend, post

PHONE = "630-555-0142"


def two_vendors(department, citysourced):
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {
        "streets": department_backend(department.url),
        "vendor": citysourced_backend(
            citysourced.url, request_types={"S1": {"name": "Tree", "id": 51}}
        ),
    }
    for service in data["services"]:
        if service["service_code"] in ("S0", "S1"):
            service["backend"] = "streets" if service["service_code"] == "S0" else "vendor"
    import_catalogue(copy.deepcopy(data))


def setup_requests(client, api_key, department, citysourced):
    two_vendors(department, citysourced)
    ours = post(client, api_key, phone=PHONE, email="pat@example.org", first_name="Pat")
    theirs = post(client, api_key, "S1", phone="630-555-0999", **{"attribute[REQ1]": "T-1"})
    dispatch.deliver_pending()
    return ours, theirs


def test_vendor_key_lists_only_its_requests_with_contacts(
    client, fast_retries, api_key, department, citysourced
):
    ours, _ = setup_requests(client, api_key, department, citysourced)
    vendor_key = create_key("streets crew portal", vendor="streets")[1]
    listed = client.get(f"{B}/requests.json?api_key={vendor_key}").get_json()
    assert [r["service_request_id"] for r in listed] == [ours["service_request_id"]]
    assert (listed[0]["phone"], listed[0]["email"], listed[0]["first_name"]) == (
        PHONE,
        "pat@example.org",
        "Pat",
    )
    assert "device_id" not in listed[0]
    # The public feed, and an app key, never show them.
    for url in (f"{B}/requests.json", f"{B}/requests.json?api_key={api_key}"):
        body = client.get(url).data.decode()
        assert PHONE not in body
        assert "pat@example.org" not in body
        assert len(client.get(url).get_json()) == 2


def test_vendor_key_updates_only_its_own_requests(
    client, fast_retries, api_key, department, citysourced
):
    ours, theirs = setup_requests(client, api_key, department, citysourced)
    vendor_key = create_key("streets crew portal", vendor="streets")[1]
    form = {
        "api_key": vendor_key,
        "update_id": "crew-1",
        "status": "IN_PROGRESS",
        "updated_datetime": "2026-01-01T10:00:00Z",
        "description": "On site",
    }
    refused = client.post(
        f"{B}/servicerequestupdates.json",
        data={**form, "service_request_id": theirs["service_request_id"]},
    )
    assert refused.status_code == 403
    accepted = client.post(
        f"{B}/servicerequestupdates.json",
        data={**form, "service_request_id": ours["service_request_id"]},
    )
    assert accepted.status_code == 200
    [shown] = client.get(f"{B}/requests/{theirs['service_request_id']}.json").get_json()
    assert shown["status_notes"] != "On site"


def test_vendor_key_cannot_submit_requests(client, fast_retries, department, citysourced):
    two_vendors(department, citysourced)
    vendor_key = create_key("portal", vendor="streets")[1]
    response = client.post(
        f"{B}/requests.json",
        data={"api_key": vendor_key, "service_code": "S0", "lat": "41.76", "long": "-88.32"},
    )
    assert response.status_code == 403


def test_keys_create_vendor_needs_a_known_back_end(app, fast_retries, department, citysourced):
    two_vendors(department, citysourced)
    runner = app.test_cli_runner()
    made = runner.invoke(args=["keys", "create", "--name", "crew", "--vendor", "streets"])
    assert made.exit_code == 0, made.output
    unknown = runner.invoke(args=["keys", "create", "--name", "crew", "--vendor", "nowhere"])
    assert unknown.exit_code != 0
    assert "no back end named 'nowhere'" in unknown.output
