"""Delivering to the CitySourced-like simulator, whatever it does (docs/vendors.md §6)."""

from __future__ import annotations

import pytest

from open311 import dispatch
from open311.catalogue import import_catalogue
from tests.dispatch.conftest import citysourced_backend, jobs, post, settle


def test_creates_one_report_with_our_reference(client, vendor_routed, api_key, citysourced):
    receipt = post(client, api_key, description="Deep pothole", first_name="Pat")
    assert dispatch.work_once() == "delivered"
    [job] = jobs()
    [report] = citysourced.records()
    assert job.reference == report["Id"]
    assert report["ExternalRequestId"] == receipt["service_request_id"]
    assert report["DeviceId"] == f"gw-{job.idempotency_key}"
    assert (report["RequestType"], report["RequestTypeId"]) == ("Pothole", "50")
    assert report["AuthorIsAnonymous"] == "False"
    assert report["Latitude"] == "41.76"


@pytest.mark.parametrize("output", ["xml", "json"])
@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "status", "status": 500},
        {"mode": "status", "status": 503, "retry_after": 0},
        {"mode": "status", "status": 429},
        {"mode": "error_message", "message": "Database busy, try later"},
        {"mode": "malformed"},
        {"mode": "html"},
        {"mode": "drop_after"},
        {"mode": "slow_after", "delay": 1.0},
        {"mode": "slow_before", "delay": 1.0},
    ],
    ids=[
        "500",
        "503",
        "429",
        "200-message",
        "truncated",
        "html",
        "lost",
        "timeout-after",
        "timeout-before",
    ],
)
def test_failures_end_in_exactly_one_report_even_without_vendor_dedupe(
    client, app, fast_retries, api_key, citysourced, output, fault
):
    import copy

    from tests.conftest import TEST_CATALOGUE

    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"vendor": citysourced_backend(citysourced.url, output=output)}
    data["services"][0]["backend"] = "vendor"
    import_catalogue(data)
    citysourced.faults(fault, dedupe=False)  # the real API may not dedupe at all
    post(client, api_key)
    settle()
    [job] = jobs()
    [report] = citysourced.records()
    assert (job.state, job.reference, job.attempts) == ("delivered", report["Id"], 2)


@pytest.mark.parametrize("mode", ["shuffle", "bom"])
def test_shuffled_elements_and_byte_order_mark(client, vendor_routed, api_key, citysourced, mode):
    citysourced.faults({"mode": mode, "remaining": 5})
    post(client, api_key)
    assert dispatch.work_once() == "delivered"
    assert jobs()[0].reference == citysourced.records()[0]["Id"]


def test_invalid_auth_code_with_http_200_is_not_retried(
    client, app, fast_retries, api_key, citysourced
):
    import copy

    from tests.conftest import TEST_CATALOGUE

    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"vendor": citysourced_backend(citysourced.url, api_key="old-key")}
    data["services"][0]["backend"] = "vendor"
    import_catalogue(data)
    post(client, api_key)
    assert dispatch.work_once() == "failed"
    assert "refused the API key" in jobs()[0].last_error
    assert citysourced.records() == []


@pytest.mark.parametrize("error_status", [False, True])
def test_invalid_request_is_a_permanent_failure(
    client, vendor_routed, api_key, citysourced, error_status
):
    citysourced.faults(error_status=error_status)
    post(client, api_key, lat="", long="", address_string="44 E Downer Pl")
    assert dispatch.work_once() == "failed"
    assert "Invalid request - missing Latitude, Longitude" in jobs()[0].last_error


def test_service_without_a_request_type_is_refused_for_good(client, vendor_routed, api_key):
    import copy

    data = copy.deepcopy(vendor_routed)
    data["services"][1]["backend"] = "vendor"  # S1 has no CitySourced category
    import_catalogue(data)
    post(client, api_key, code="S1", **{"attribute[REQ1]": "x"})
    assert dispatch.work_once() == "failed"
    assert "no CitySourced request type for 'S1'" in jobs()[0].last_error


def test_vendor_dedupe_answers_the_same_report(client, vendor_routed, api_key, citysourced):
    citysourced.faults(
        {"mode": "drop_after"}, {"operation": "lookup", "mode": "status", "status": 500}
    )
    post(client, api_key)
    settle()
    [report] = citysourced.records()
    outcomes = [e["outcome"] for e in citysourced.log() if e["operation"] == "CreateThreeOneOne"]
    assert outcomes[:1] == ["created"]
    assert jobs()[0].reference == report["Id"]
