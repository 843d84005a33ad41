"""mySociety's service request updates (checklist X10-X14) and the status history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from lxml import etree

from open311.clock import utcnow
from open311.models import RequestUpdate
from open311.updates import NewUpdate, record
from tests.helpers import error_descriptions

B = "/open311/v2"
T0 = datetime(2026, 11, 2, 15, tzinfo=UTC)


def post_update(client, key, request_id, update_id="u1", status="CLOSED", **extra):
    form = {
        "api_key": key,
        "service_request_id": request_id,
        "update_id": update_id,
        "status": status,
        "updated_datetime": extra.pop("updated_datetime", "2026-11-02T16:00:00Z"),
        "description": extra.pop("description", "Filled the hole"),
        **extra,
    }
    return client.post(f"{B}/servicerequestupdates.xml", data=form)


def test_x12_post_update_closes_the_request(client, seed, api_key):
    row = seed(T0)
    response = post_update(client, api_key, row.service_request_id)
    assert response.status_code == 200
    doc = etree.fromstring(response.data)
    assert doc.tag == "service_request_updates"
    [item] = doc
    assert item.tag == "request_update"
    assert item.findtext("update_id")
    [shown] = client.get(f"{B}/requests/{row.service_request_id}.json").get_json()
    assert shown["status"] == "closed"
    assert shown["status_notes"] == "Filled the hole"
    assert shown["updated_datetime"] == "2026-11-02T16:00:00Z"


def test_x13_repeated_update_id_is_400_and_stores_nothing(client, seed, api_key):
    row = seed(T0)
    assert post_update(client, api_key, row.service_request_id).status_code == 200
    again = post_update(
        client, api_key, row.service_request_id, status="OPEN", description="changed"
    )
    assert again.status_code == 400
    assert "already exists" in error_descriptions(again)[0]
    [shown] = client.get(f"{B}/requests/{row.service_request_id}.json").get_json()
    assert shown["status"] == "closed"
    assert RequestUpdate.query.count() == 1


def test_x13_missing_or_unknown_key_is_403(client, seed):
    row = seed(T0)
    assert post_update(client, "", row.service_request_id).status_code == 403
    assert post_update(client, "o311_nope", row.service_request_id).status_code == 403
    assert RequestUpdate.query.count() == 0


def test_bad_update_input_is_400_not_half_written(client, seed, api_key):
    row = seed(T0)
    rid = row.service_request_id
    assert post_update(client, api_key, rid, status="SOLVED").status_code == 400
    assert post_update(client, api_key, rid, updated_datetime="yesterday").status_code == 400
    future = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert post_update(client, api_key, rid, updated_datetime=future).status_code == 400
    assert post_update(client, api_key, "999999").status_code == 404
    assert RequestUpdate.query.count() == 0
    [shown] = client.get(f"{B}/requests/{rid}.json").get_json()
    assert shown["status"] == "open"


def test_x14_upper_case_in_lower_case_out_and_core_status_derived(client, seed, api_key):
    row = seed(T0)
    rid = row.service_request_id
    steps = [
        ("u1", "IN_PROGRESS", "2026-11-02T16:00:00Z", "open"),
        ("u2", "FIXED", "2026-11-02T17:00:00Z", "closed"),
        ("u3", "REOPEN", "2026-11-02T18:00:00Z", "open"),
        ("u4", "NOT_COUNCILS_RESPONSIBILITY", "2026-11-02T19:00:00Z", "closed"),
    ]
    for update_id, status, stamp, core in steps:
        assert (
            post_update(client, api_key, rid, update_id, status, updated_datetime=stamp).status_code
            == 200
        )
        [shown] = client.get(f"{B}/requests/{rid}.json").get_json()
        assert shown["status"] == core
    listed = client.get(
        f"{B}/servicerequestupdates.json?start_date=2026-11-02T00:00:00Z"
        "&end_date=2026-11-03T00:00:00Z"
    ).get_json()
    assert [u["status"] for u in listed] == [
        "in_progress",
        "fixed",
        "reopen",
        "not_councils_responsibility",
    ]
    assert all(u["service_request_id"] == rid for u in listed)


def test_x10_x11_list_in_window_and_empty_root(client, seed, api_key):
    row = seed(T0)
    rid = row.service_request_id
    post_update(client, api_key, rid, "a", "IN_PROGRESS", updated_datetime="2026-11-02T16:00:00Z")
    post_update(client, api_key, rid, "b", "CLOSED", updated_datetime="2026-11-04T16:00:00Z")
    response = client.get(
        f"{B}/servicerequestupdates.xml?start_date=2026-11-02T00:00:00Z"
        "&end_date=2026-11-03T00:00:00Z"
    )
    assert response.status_code == 200
    doc = etree.fromstring(response.data)
    assert doc.tag == "service_request_updates"
    [item] = doc
    assert [child.tag for child in item] == [
        "update_id",
        "service_request_id",
        "status",
        "updated_datetime",
        "description",
        "media_url",
    ]
    assert item.findtext("status") == "in_progress"
    assert item.findtext("updated_datetime") == "2026-11-02T16:00:00Z"
    empty = client.get(
        f"{B}/servicerequestupdates.xml?start_date=2026-10-01T00:00:00Z"
        "&end_date=2026-10-02T00:00:00Z"
    )
    assert etree.fromstring(empty.data).tag == "service_request_updates"
    assert len(etree.fromstring(empty.data)) == 0


def test_updates_feed_shows_no_personal_data(client, seed, api_key):
    row = seed(T0, email="secret.person@example.org", phone="630-555-0199")
    post_update(
        client,
        api_key,
        row.service_request_id,
        email="writer@example.org",
        first_name="Zebulon",
        phone="630-555-0100",
    )
    body = client.get(
        f"{B}/servicerequestupdates.json?start_date=2026-11-01T00:00:00Z"
        "&end_date=2026-11-03T00:00:00Z"
    ).data.decode()
    for secret in ("secret.person", "630-555-0199", "writer@example.org", "Zebulon", "0100"):
        assert secret not in body


def test_older_change_is_history_not_the_present(app, seed):
    row = seed(T0)
    record(row, NewUpdate("fixed", T0 + timedelta(hours=2), "backend:d", "r2", "Done"))
    late = record(row, NewUpdate("in_progress", T0 + timedelta(hours=1), "backend:d", "r1", "Crew"))
    assert late.applied is False
    assert (row.status, row.status_notes) == ("closed", "Done")
    assert row.updated_datetime == T0 + timedelta(hours=2)
    assert RequestUpdate.query.count() == 2


def test_lower_version_never_overwrites_a_higher_one(app, seed):
    row = seed(T0)
    record(row, NewUpdate("fixed", T0 + timedelta(hours=1), "backend:d", "v3", "Done", version=3))
    # Same time (the vendor's clock is coarse) but an older version: history only.
    stale = record(
        row, NewUpdate("in_progress", T0 + timedelta(hours=1), "backend:d", "v2", version=2)
    )
    assert stale.applied is False
    assert row.status == "closed"


def test_unknown_vendor_status_is_stored_raw_and_keeps_the_status(app, seed, caplog):
    row = seed(T0)
    record(row, NewUpdate("in_progress", T0 + timedelta(hours=1), "backend:d", "r1", "Crew"))
    odd = record(
        row,
        NewUpdate(None, T0 + timedelta(hours=2), "backend:d", "r2", "??", raw_status="parked"),
    )
    assert (odd.status, odd.raw_status, odd.applied) == (None, "parked", False)
    assert (row.status, row.status_notes) == ("open", "Crew")
    assert "'parked'" in caplog.text


def test_extensions_carry_the_update_history(client, seed, api_key):
    row = seed(T0, email="secret.person@example.org")
    rid = row.service_request_id
    post_update(client, api_key, rid, "a", "IN_PROGRESS", updated_datetime="2026-11-02T16:00:00Z")
    post_update(client, api_key, rid, "b", "FIXED", updated_datetime="2026-11-02T17:00:00Z")
    [shown] = client.get(f"{B}/requests/{rid}.json?extensions=true").get_json()
    history = shown["extended_attributes"]["updates"]
    assert [(u["status"], u["updated_datetime"]) for u in history] == [
        ("in_progress", "2026-11-02T16:00:00Z"),
        ("fixed", "2026-11-02T17:00:00Z"),
    ]
    doc = etree.fromstring(client.get(f"{B}/requests/{rid}.xml?extensions=true").data)
    items = doc.findall("request/extended_attributes/updates/request_update")
    assert [i.findtext("status") for i in items] == ["in_progress", "fixed"]
    assert b"secret.person" not in client.get(f"{B}/requests/{rid}.xml?extensions=true").data
    [plain] = client.get(f"{B}/requests/{rid}.json").get_json()
    assert "extended_attributes" not in plain


def test_simultaneous_posts_of_one_update_id_store_it_once(app, seed, api_key):
    rid = seed(T0).service_request_id
    barrier = threading.Barrier(6)
    codes = []

    def racer(n):
        barrier.wait()
        with app.test_client() as own:
            response = post_update(own, api_key, rid, "race", "CLOSED", description=f"try {n}")
            codes.append(response.status_code)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 400, 400, 400, 400, 400]
    assert RequestUpdate.query.count() == 1


def test_extended_attributes_count_the_history(client, seed, api_key):
    row = seed(T0)
    other = seed(T0 + timedelta(minutes=5))

    def lengths():
        listed = client.get(f"{B}/requests.json?extensions=true&start_date=2026-10-01").get_json()
        return {r["service_request_id"]: r["extended_attributes"]["history_length"] for r in listed}

    assert lengths() == {row.service_request_id: 0, other.service_request_id: 0}
    assert (
        post_update(client, api_key, row.service_request_id, status="IN_PROGRESS").status_code
        == 200
    )
    assert post_update(client, api_key, row.service_request_id, update_id="u2").status_code == 200
    assert lengths() == {row.service_request_id: 2, other.service_request_id: 0}


def test_dates_at_the_end_of_the_calendar_are_a_400_not_a_500(client, catalogue):
    # Found by schemathesis: 90 days before 0001-01-01 overflowed (500).
    for query in ("end_date=0001-01-01T00:00:00Z", "start_date=9999-12-31T00:00:00Z"):
        for resource in ("servicerequestupdates", "requests"):
            response = client.get(f"{B}/{resource}.xml?{query}")
            assert response.status_code == 400, (resource, query)
            assert "out of range" in etree.fromstring(response.data).findtext("error/description")
