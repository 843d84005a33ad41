"""GET Service Requests and GET Service Request (checklist R01-R17, G01-G04, T05, E04, E05).

Every test runs on SQLite and on PostgreSQL (the ``app`` fixture). Requests are seeded
directly with known datetimes so that windows, bounds and ordering can be checked exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree

from open311.extensions import db
from open311.models import Jurisdiction, Service, ServiceRequest
from open311.status import change_status
from tests.helpers import (
    DATETIME,
    REQUEST_FIELDS,
    error_descriptions,
    json_ok,
    spark_document,
    validate_against,
    xml_ok,
)

B = "/open311/v2"
DATETIME_FIELDS = ("requested_datetime", "updated_datetime", "expected_datetime")
PERSONAL = {
    "email": "secret.person@example.org",
    "phone": "630-555-0199",
    "first_name": "Zebulon",
    "last_name": "Quixotefield",
    "device_id": "device-7f3a9c",
    "account_id": "account-42x9",
}


def now() -> datetime:
    """Now in UTC to the second, like the app's clock (a seeded 'now' is never in its future)."""
    return datetime.now(UTC).replace(microsecond=0)


def ago(days: float = 0, **more: float) -> datetime:
    return now() - timedelta(days=days, **more)


def z(value: datetime) -> str:
    """The ``Z`` form the app emits and accepts."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_json(client: Any, query: Any = None) -> list[dict[str, Any]]:
    body = json_ok(client.get(f"{B}/requests.json", query_string=query))
    assert isinstance(body, list)
    return body


def ids_of(client: Any, query: Any = None) -> list[str]:
    return [r["service_request_id"] for r in get_json(client, query)]


def xml_ids(client: Any, query: Any = None) -> list[str]:
    root = xml_ok(client.get(f"{B}/requests.xml", query_string=query))
    return [r.findtext("service_request_id") for r in root]


def assert_error(response: Any, status: int, fmt: str, *needles: str) -> list[str]:
    """An error response in ``fmt`` with ``status`` whose descriptions mention ``needles``."""
    assert response.status_code == status, response.data
    expected = "application/json" if fmt == "json" else "text/xml"
    assert response.headers["Content-Type"] == f"{expected}; charset=utf-8"
    if fmt == "xml":
        xml_ok(response, status)
    descriptions = error_descriptions(response)
    text = " ".join(descriptions)
    for needle in needles:
        assert needle in text, descriptions
    return descriptions


def insert_request(
    jurisdiction_id: str, service_code: str, requested: datetime, **fields: Any
) -> ServiceRequest:
    """Seed a request in a given jurisdiction (multi-jurisdiction catalogue)."""
    service = db.session.scalar(
        sa.select(Service)
        .join(Jurisdiction, Service.jurisdiction_pk == Jurisdiction.id)
        .where(
            Service.service_code == service_code, Jurisdiction.jurisdiction_id == jurisdiction_id
        )
    )
    row = ServiceRequest(
        jurisdiction_pk=service.jurisdiction_pk,
        service=service,
        status=fields.pop("status", "open"),
        requested_datetime=requested,
        updated_datetime=requested,
        attributes={},
        **fields,
    )
    db.session.add(row)
    db.session.flush()
    row.service_request_id = str(row.id)
    db.session.commit()
    return row


# -- R01-R04: shape ------------------------------------------------------------------------------


def test_r01_empty_list_is_childless_root_and_empty_array(client, catalogue):
    root = xml_ok(client.get(f"{B}/requests.xml"))
    assert root.tag == "service_requests"
    assert len(root) == 0
    assert get_json(client) == []


def test_r01_list_root_holds_only_request_children(client, seed):
    seed(ago(1))
    seed(ago(2), service_code="S1", status="closed")
    root = xml_ok(client.get(f"{B}/requests.xml"))
    assert root.tag == "service_requests"
    assert [child.tag for child in root] == ["request", "request"]
    body = get_json(client)
    assert len(body) == 2
    assert all(isinstance(item, dict) for item in body)


def test_r02_every_request_carries_all_17_fields(client, seed):
    seed(ago(1))  # only the mandatory columns
    seed(
        ago(2),
        service_code="S1",
        status="closed",
        status_notes="Done",
        description="Big hole",
        agency_responsible="Streets",
        service_notice="Within 5 days",
        expected_datetime=ago(-3),
        address="1 Main St",
        address_id="A-1",
        zipcode="60505",
        lat=41.76,
        long=-88.32,
        media_url="https://example.org/a.jpg",
    )
    root = xml_ok(client.get(f"{B}/requests.xml"))
    assert len(root) == 2
    for request in root:
        tags = [child.tag for child in request]
        assert sorted(tags) == sorted(REQUEST_FIELDS), tags
        assert request.findtext("status") in ("open", "closed")
        for name in (
            "service_request_id",
            "service_code",
            "service_name",
            "requested_datetime",
            "updated_datetime",
        ):
            assert request.findtext(name), name
    body = get_json(client)
    assert len(body) == 2
    for item in body:
        assert set(item) == set(REQUEST_FIELDS)
        assert item["status"] in ("open", "closed")
        for name in (
            "service_request_id",
            "service_code",
            "service_name",
            "requested_datetime",
            "updated_datetime",
        ):
            assert isinstance(item[name], str), name
            assert item[name], name
    minimal = next(item for item in body if item["service_code"] == "S0")
    assert minimal["service_name"] == "Pothole"
    for name in ("status_notes", "description", "address", "lat", "long", "media_url"):
        assert minimal[name] is None, name
    full = next(item for item in body if item["service_code"] == "S1")
    assert full["service_name"] == "Tree trimming"
    assert full["status_notes"] == "Done"
    assert full["zipcode"] == "60505"
    assert full["media_url"] == "https://example.org/a.jpg"


def test_r03_datetimes_are_w3c_in_utc_without_fraction(client, seed):
    offset = timezone(timedelta(hours=-6))
    # Three days ago in a -06:00 zone, with microseconds the output must drop.
    requested = (now() - timedelta(days=3)).astimezone(offset).replace(microsecond=987654)
    expected = (now() + timedelta(days=7)).astimezone(timezone(timedelta(hours=5, minutes=30)))
    row = seed(requested, expected_datetime=expected)
    for item in get_json(client):
        for name in DATETIME_FIELDS:
            assert DATETIME.match(item[name]), (name, item[name])
    item = get_json(client)[0]
    assert item["requested_datetime"] == z(requested)
    assert item["updated_datetime"] == z(requested)
    assert item["expected_datetime"] == z(expected)
    assert item["requested_datetime"].endswith("Z")
    root = xml_ok(client.get(f"{B}/requests/{row.service_request_id}.xml"))
    for name in DATETIME_FIELDS:
        assert DATETIME.match(root[0].findtext(name)), name
    assert root[0].findtext("requested_datetime") == z(requested)


def test_r04_posted_request_appears_in_list(client, catalogue, api_key):
    response = client.post(
        f"{B}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "S0",
            "lat": "41.88",
            "long": "-87.63",
            "description": "x",
        },
    )
    new_id = json_ok(response)[0]["service_request_id"]
    listed = {r["service_request_id"]: r for r in get_json(client)}
    assert new_id in listed
    item = listed[new_id]
    assert item["service_code"] == "S0"
    assert item["description"] == "x"
    assert abs(item["lat"] - 41.88) <= 1e-6
    assert abs(item["long"] - -87.63) <= 1e-6
    assert item["status"] == "open"
    assert new_id in xml_ids(client)


# -- R05-R07: filters ----------------------------------------------------------------------------


def test_r05_status_filter(client, seed):
    opened = seed(ago(1)).service_request_id
    closed = seed(ago(2), status="closed").service_request_id
    assert ids_of(client, {"status": "closed"}) == [closed]
    assert ids_of(client, {"status": "open"}) == [opened]
    assert ids_of(client, {"status": "open,closed"}) == [opened, closed]
    assert ids_of(client, [("status", "open"), ("status", "closed")]) == [opened, closed]
    assert ids_of(client, {"status": " closed , "}) == [closed]
    assert xml_ids(client, {"status": "closed"}) == [closed]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_r05_blank_status_is_same_as_absent(client, seed, fmt):
    seed(ago(1))
    seed(ago(2), status="closed")
    plain = client.get(f"{B}/requests.{fmt}")
    for blank in ("", " ", ","):
        response = client.get(f"{B}/requests.{fmt}", query_string={"status": blank})
        assert response.status_code == 200, (blank, response.data)
        assert response.data == plain.data, blank
    assert len(get_json(client, {"status": ""})) == 2


@pytest.mark.parametrize(
    "name", ["start_date", "end_date", "service_code", "service_request_id", "jurisdiction_id"]
)
def test_r05_other_blank_parameters_are_same_as_absent(client, seed, name):
    seed(ago(1))
    seed(ago(100))
    seed(ago(2), service_code="S1", status="closed")
    plain = client.get(f"{B}/requests.xml")
    blank = client.get(f"{B}/requests.xml", query_string={name: ""})
    assert blank.status_code == 200, blank.data
    assert blank.data == plain.data
    assert len(xml_ok(blank)) == 2


def test_r06_service_code_filter(client, seed):
    s0 = seed(ago(1), service_code="S0").service_request_id
    s1 = seed(ago(2), service_code="S1").service_request_id
    seed(ago(3), service_code="SB")
    seed(ago(4), service_code="SX")
    assert ids_of(client, {"service_code": "S0,S1"}) == [s0, s1]
    assert ids_of(client, [("service_code", "S0"), ("service_code", "S1")]) == [s0, s1]
    assert ids_of(client, {"service_code": "S1"}) == [s1]
    assert ids_of(client, {"service_code": " S1 ,, S0 "}) == [s0, s1]
    for item in get_json(client, {"service_code": "S0,S1"}):
        assert item["service_code"] in ("S0", "S1")
    assert xml_ids(client, {"service_code": "S1"}) == [s1]


def test_r06_filters_combine(client, seed):
    seed(ago(1), service_code="S0", status="open")
    wanted = seed(ago(2), service_code="S1", status="closed").service_request_id
    seed(ago(3), service_code="S0", status="closed")
    seed(ago(4), service_code="S1", status="open")
    assert ids_of(client, {"service_code": "S1", "status": "closed"}) == [wanted]


def test_r07_date_range_is_inclusive(client, seed):
    start = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
    end = start + timedelta(days=30)
    at_start = seed(start).service_request_id
    inside = seed(start + timedelta(days=10)).service_request_id
    at_end = seed(end).service_request_id
    seed(start - timedelta(seconds=1))
    seed(end + timedelta(seconds=1))
    seed(ago(1))
    query = {"start_date": z(start), "end_date": z(end)}
    body = get_json(client, query)
    assert [r["service_request_id"] for r in body] == [at_end, inside, at_start]
    for item in body:
        requested = datetime.fromisoformat(item["requested_datetime"])
        assert start <= requested <= end
    assert xml_ids(client, query) == [at_end, inside, at_start]


@pytest.mark.parametrize(
    "start_date",
    [
        "2025-03-10T12:00:00Z",
        "2025-03-10T12:00:00z",
        "2025-03-10T12:00:00+00:00",
        "2025-03-10T06:00:00-06:00",
        "2025-03-10T06:00:00-0600",
        "2025-03-10T17:30:00+05:30",
        "2025-03-10T17:30:00+0530",
        "2025-03-10T12:00:00.000Z",
        "2025-03-10T06:00:00.000000-06:00",
    ],
)
def test_r07_start_date_formats_name_the_same_instant(client, seed, start_date):
    instant = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
    on_time = seed(instant).service_request_id
    seed(instant - timedelta(seconds=1))
    query = {"start_date": start_date, "end_date": "2025-03-20T00:00:00Z"}
    assert ids_of(client, query) == [on_time]


def test_r07_unescaped_plus_offset_in_url(client, seed):
    instant = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
    on_time = seed(instant).service_request_id
    seed(instant - timedelta(seconds=1))
    # A literal "+" in a query string decodes to a space; the gateway reads it back as "+".
    response = client.get(
        f"{B}/requests.json?start_date=2025-03-10T17:30:00+05:30&end_date=2025-03-20T00:00:00Z"
    )
    assert [r["service_request_id"] for r in json_ok(response)] == [on_time]


def test_r07_fractional_seconds_are_honoured(client, seed):
    instant = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
    seed(instant)
    later = seed(instant + timedelta(seconds=1)).service_request_id
    query = {"start_date": "2025-03-10T12:00:00.5Z", "end_date": "2025-03-20T00:00:00Z"}
    assert ids_of(client, query) == [later]


def test_r07_date_only_means_midnight_utc(client, seed):
    midnight = datetime(2025, 3, 10, tzinfo=UTC)
    at_midnight = seed(midnight).service_request_id
    seed(midnight - timedelta(seconds=1))
    after_end = seed(datetime(2025, 3, 20, 0, 0, 1, tzinfo=UTC)).service_request_id
    at_end = seed(datetime(2025, 3, 20, tzinfo=UTC)).service_request_id
    ids = ids_of(client, {"start_date": "2025-03-10", "end_date": "2025-03-20"})
    assert ids == [at_end, at_midnight]
    assert after_end not in ids


# -- R08-R10: window and cap ---------------------------------------------------------------------


def test_r08_default_window_is_90_days(client, seed):
    old = seed(ago(100)).service_request_id
    recent = seed(ago(10)).service_request_id
    inside_edge = seed(ago(89, hours=23)).service_request_id
    outside_edge = seed(ago(90, hours=1)).service_request_id
    ids = ids_of(client)
    assert recent in ids
    assert inside_edge in ids
    assert old not in ids
    assert outside_edge not in ids
    assert ids == [recent, inside_edge]
    assert xml_ids(client) == [recent, inside_edge]


def test_r08_window_size_comes_from_settings(client, seed, set_setting):
    set_setting(window_days=30)
    seed(ago(40))
    recent = seed(ago(20)).service_request_id
    assert ids_of(client) == [recent]


def test_r08_only_start_date_covers_90_days_from_it(client, seed):
    start = ago(200)
    before = seed(start - timedelta(seconds=1)).service_request_id
    at_start = seed(start).service_request_id
    inside = seed(ago(150)).service_request_id
    last = seed(start + timedelta(days=90)).service_request_id
    after = seed(start + timedelta(days=90, seconds=1)).service_request_id
    recent = seed(ago(1)).service_request_id
    ids = ids_of(client, {"start_date": z(start)})
    assert ids == [last, inside, at_start]
    for absent in (before, after, recent):
        assert absent not in ids


def test_r08_only_recent_start_date_runs_to_now(client, seed):
    start = ago(10)
    seed(start - timedelta(hours=1))
    inside = seed(ago(5)).service_request_id
    latest = seed(ago(0, minutes=1)).service_request_id
    assert ids_of(client, {"start_date": z(start)}) == [latest, inside]


def test_r08_only_end_date_covers_90_days_before_it(client, seed):
    end = ago(50)
    seed(end + timedelta(seconds=1))
    at_end = seed(end).service_request_id
    inside = seed(ago(130)).service_request_id
    first = seed(end - timedelta(days=90)).service_request_id
    seed(end - timedelta(days=90, seconds=1))
    seed(ago(1))
    assert ids_of(client, {"end_date": z(end)}) == [at_end, inside, first]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_r09_span_over_90_days_is_400(client, seed, fmt):
    seed(ago(10))
    response = client.get(
        f"{B}/requests.{fmt}",
        query_string={"start_date": z(ago(130)), "end_date": z(ago(10))},
    )
    assert_error(response, 400, fmt, "90")


def test_r09_span_of_exactly_90_days_is_allowed(client, seed):
    end = ago(1)
    start = end - timedelta(days=90)
    first = seed(start).service_request_id
    last = seed(end).service_request_id
    assert ids_of(client, {"start_date": z(start), "end_date": z(end)}) == [last, first]
    response = client.get(
        f"{B}/requests.json",
        query_string={"start_date": z(start - timedelta(seconds=1)), "end_date": z(end)},
    )
    assert_error(response, 400, "json")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_r09_end_before_start_is_400(client, catalogue, fmt):
    response = client.get(
        f"{B}/requests.{fmt}",
        query_string={"start_date": "2025-03-10T00:00:00Z", "end_date": "2025-03-01T00:00:00Z"},
    )
    assert_error(response, 400, fmt)


def test_r10_default_cap_is_1000_newest(client, seed):
    service = db.session.scalar(sa.select(Service).where(Service.service_code == "S0"))
    base = ago(1)
    rows = [
        ServiceRequest(
            jurisdiction_pk=service.jurisdiction_pk,
            service=service,
            status="open",
            requested_datetime=base - timedelta(minutes=i),
            updated_datetime=base - timedelta(minutes=i),
            attributes={},
        )
        for i in range(1001)
    ]
    db.session.add_all(rows)
    db.session.flush()
    for row in rows:
        row.service_request_id = str(row.id)
    db.session.commit()
    oldest = rows[-1].service_request_id
    body = get_json(client)
    assert len(body) == 1000
    ids = [r["service_request_id"] for r in body]
    assert oldest not in ids
    assert ids[0] == rows[0].service_request_id
    assert ids == [row.service_request_id for row in rows[:1000]]
    assert len(xml_ok(client.get(f"{B}/requests.xml"))) == 1000


def test_r10_cap_from_settings_keeps_newest(client, seed, set_setting):
    set_setting(max_requests=5)
    rows = [seed(ago(days)) for days in (7, 1, 6, 2, 5, 3, 4)]
    newest_first = [r.service_request_id for r in sorted(rows, key=lambda r: r.requested_datetime)]
    newest_first.reverse()
    assert ids_of(client) == newest_first[:5]
    assert xml_ids(client) == newest_first[:5]


def test_r10_cap_applies_after_filters(client, seed, set_setting):
    set_setting(max_requests=3)
    for days in range(1, 6):
        seed(ago(days), status="open")
    closed = [seed(ago(10 + days), status="closed").service_request_id for days in range(4)]
    assert ids_of(client, {"status": "closed"}) == closed[:3]


def test_r11_service_request_id_overrides_other_filters(client, seed):
    old = seed(ago(100)).service_request_id
    new = seed(ago(1)).service_request_id
    seed(ago(2), status="closed")
    ids = ids_of(client, {"service_request_id": f"{old},{new}", "status": "closed"})
    assert ids == [new, old]
    body = get_json(
        client,
        {
            "service_request_id": f"{old},{new}",
            "status": "closed",
            "service_code": "S1",
            "start_date": z(ago(30)),
            "end_date": z(ago(20)),
        },
    )
    assert [r["service_request_id"] for r in body] == [new, old]
    repeated = [("service_request_id", old), ("service_request_id", new), ("status", "closed")]
    assert ids_of(client, repeated) == [new, old]
    assert xml_ids(client, {"service_request_id": f"{new}, {old}"}) == [new, old]


def test_r11_service_request_id_bypasses_cap_and_ignores_bad_span(client, seed, set_setting):
    set_setting(max_requests=1)
    rows = [seed(ago(days)).service_request_id for days in (1, 2, 300)]
    assert ids_of(client, {"service_request_id": ",".join(rows)}) == rows
    # Dates are ignored altogether, so even a span the window forbids does not matter.
    query = {
        "service_request_id": ",".join(rows),
        "start_date": z(ago(400)),
        "end_date": z(ago(1)),
    }
    assert ids_of(client, query) == rows


def test_r11_unknown_service_request_id_is_absent_not_404(client, seed):
    known = seed(ago(1)).service_request_id
    assert ids_of(client, {"service_request_id": "NO_SUCH"}) == []
    assert ids_of(client, {"service_request_id": f"NO_SUCH,{known}"}) == [known]
    root = xml_ok(client.get(f"{B}/requests.xml", query_string={"service_request_id": "NO_SUCH"}))
    assert len(root) == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("name", ["start_date", "end_date"])
@pytest.mark.parametrize(
    "value",
    [
        "not-a-date",
        "2026-02-30T00:00:00Z",
        "2026-02-30",
        "2026-13-01",
        "2026-01-01T25:00:00Z",
        "01/02/2026",
        "1767225600",
        "2026-01-01T00:00:00+25:00",
    ],
)
def test_r12_unparseable_date_is_400_in_requested_format(client, catalogue, fmt, name, value):
    response = client.get(f"{B}/requests.{fmt}", query_string={name: value})
    assert_error(response, 400, fmt, name)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("name", ["start_date", "end_date"])
def test_r12_date_without_time_zone_is_400(client, catalogue, fmt, name):
    response = client.get(f"{B}/requests.{fmt}", query_string={name: "2026-01-01T00:00:00"})
    assert_error(response, 400, fmt, name)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("status", ["pending", "open,pending", "OPEN", "Closed"])
def test_r13_unknown_status_is_400(client, seed, fmt, status):
    seed(ago(1))
    response = client.get(f"{B}/requests.{fmt}", query_string={"status": status})
    assert_error(response, 400, fmt, "status")


def test_r14_json_types_and_schema(client, seed):
    seed(ago(1), lat=41.76, long=-88.32, description="With a place")
    seed(ago(2), address="1 Main St")
    closed = seed(ago(3), status="closed", status_notes="Fixed")
    change_status(closed, "closed", "Fixed")
    body = get_json(client)
    assert len(body) == 3
    validate_against("requests.json", body)
    for item in body:
        assert isinstance(item["service_request_id"], str)
        assert isinstance(item["service_code"], str)
        for name in ("lat", "long"):
            assert item[name] is None or (
                isinstance(item[name], float | int) and not isinstance(item[name], bool)
            )
    placed = next(item for item in body if item["description"] == "With a place")
    assert placed["lat"] == pytest.approx(41.76)
    assert placed["long"] == pytest.approx(-88.32)
    unplaced = next(item for item in body if item["address"] == "1 Main St")
    assert unplaced["lat"] is None
    assert unplaced["long"] is None


def test_r15_closing_sets_updated_datetime_to_closing_time(client, seed):
    requested = ago(5)
    row = seed(requested)
    before = now()
    change_status(row, "closed", "Filled the hole")
    after = now()
    closed_at = row.updated_datetime
    assert before <= closed_at <= after
    for item in (
        get_json(client)[0],
        json_ok(client.get(f"{B}/requests/{row.service_request_id}.json"))[0],
    ):
        assert item["status"] == "closed"
        assert item["status_notes"] == "Filled the hole"
        updated = datetime.fromisoformat(item["updated_datetime"])
        assert updated >= datetime.fromisoformat(item["requested_datetime"])
        assert item["requested_datetime"] == z(requested)
        assert item["updated_datetime"] == z(closed_at)
        assert before <= updated <= after
    assert ids_of(client, {"status": "closed"}) == [row.service_request_id]


def test_r16_newest_first_ties_by_id_descending(client, seed):
    same = ago(3)
    middle_a = seed(same).service_request_id
    oldest = seed(ago(5)).service_request_id
    newest = seed(ago(1)).service_request_id
    middle_b = seed(same).service_request_id
    middle_c = seed(same).service_request_id
    expected = [newest, middle_c, middle_b, middle_a, oldest]
    assert ids_of(client) == expected
    assert xml_ids(client) == expected
    times = [datetime.fromisoformat(r["requested_datetime"]) for r in get_json(client)]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_r17_unknown_service_code_gives_empty_list(client, seed, fmt):
    seed(ago(1))
    response = client.get(f"{B}/requests.{fmt}", query_string={"service_code": "NO_SUCH"})
    if fmt == "json":
        assert json_ok(response) == []
    else:
        root = xml_ok(response)
        assert root.tag == "service_requests"
        assert len(root) == 0


# -- G01-G04: one request ------------------------------------------------------------------------


def test_g01_detail_xml_holds_exactly_that_request(client, seed):
    seed(ago(2))
    row = seed(ago(1), description="The one")
    root = xml_ok(client.get(f"{B}/requests/{row.service_request_id}.xml"))
    assert root.tag == "service_requests"
    assert [child.tag for child in root] == ["request"]
    assert root[0].findtext("service_request_id") == row.service_request_id
    assert root[0].findtext("description") == "The one"
    assert sorted(child.tag for child in root[0]) == sorted(REQUEST_FIELDS)


def test_g01_detail_ignores_the_window(client, seed):
    row = seed(ago(400), status="closed")
    root = xml_ok(client.get(f"{B}/requests/{row.service_request_id}.xml"))
    assert root[0].findtext("service_request_id") == row.service_request_id
    assert root[0].findtext("status") == "closed"


def test_g02_detail_json_is_array_of_one(client, seed):
    seed(ago(2))
    row = seed(ago(1))
    body = json_ok(client.get(f"{B}/requests/{row.service_request_id}.json"))
    assert isinstance(body, list)
    assert len(body) == 1
    assert body[0]["service_request_id"] == row.service_request_id
    assert set(body[0]) == set(REQUEST_FIELDS)
    validate_against("requests.json", body)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_g03_unknown_id_is_404(client, seed, fmt):
    seed(ago(1))
    response = client.get(f"{B}/requests/NO_SUCH.{fmt}")
    assert_error(response, 404, fmt, "NO_SUCH")


def test_g04_xml_and_json_carry_identical_values(client, seed):
    row = seed(
        ago(2),
        service_code="S1",
        description="a<b & c ✓",
        address="1 Main St",
        address_id="A-9",
        zipcode="60505",
        lat=41.7606,
        long=-88.3201,
        agency_responsible="Forestry",
        service_notice="Soon",
        expected_datetime=ago(-5),
        media_url="https://example.org/x.jpg?a=1&b=2",
    )
    change_status(row, "closed", "Trimmed")
    request = xml_ok(client.get(f"{B}/requests/{row.service_request_id}.xml"))[0]
    item = json_ok(client.get(f"{B}/requests/{row.service_request_id}.json"))[0]
    for name in REQUEST_FIELDS:
        text = request.findtext(name)
        value = item[name]
        if name in ("lat", "long"):
            assert float(text) == value, name
        else:
            assert text == value, name
    assert item["description"] == "a<b & c ✓"
    assert item["media_url"] == "https://example.org/x.jpg?a=1&b=2"


# -- T05: JSON is the Spark transform of XML -----------------------------------------------------


def _varied_requests(seed: Any) -> list[ServiceRequest]:
    rows = [
        seed(ago(1)),
        seed(
            ago(2),
            service_code="S1",
            description="Fallen branch <big> & heavy",
            lat=41.5,
            long=-88.25,
            address="2 Elm St",
            zipcode="60505",
            expected_datetime=ago(-2),
            media_url="https://example.org/b.jpg",
        ),
        seed(ago(3), service_code="SB", address_id="A-77", agency_responsible="Water"),
    ]
    change_status(rows[2], "closed", "Replaced")
    return rows


def test_t05_requests_json_is_spark_of_xml(client, seed):
    _varied_requests(seed)
    xml = client.get(f"{B}/requests.xml")
    xml_ok(xml)
    assert spark_document(xml.data) == get_json(client)


def test_t05_single_item_list_is_still_an_array(client, seed):
    seed(ago(1), lat=41.0, long=-88.0)
    xml = client.get(f"{B}/requests.xml")
    body = get_json(client)
    assert len(body) == 1
    assert spark_document(xml.data) == body


def test_t05_request_detail_json_is_spark_of_xml(client, seed):
    for row in _varied_requests(seed):
        xml = client.get(f"{B}/requests/{row.service_request_id}.xml")
        xml_ok(xml)
        body = json_ok(client.get(f"{B}/requests/{row.service_request_id}.json"))
        assert spark_document(xml.data) == body


# -- jurisdictions, keys, unknown parameters, privacy ---------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_e04_multi_jurisdiction_requires_jurisdiction_id(client, multi_catalogue, fmt):
    response = client.get(f"{B}/requests.{fmt}")
    assert_error(response, 400, fmt, "jurisdiction_id")
    response = client.get(f"{B}/requests.{fmt}", query_string={"jurisdiction_id": ""})
    assert_error(response, 400, fmt, "jurisdiction_id")
    response = client.get(f"{B}/requests.{fmt}", query_string={"jurisdiction_id": "nowhere.gov"})
    assert_error(response, 404, fmt, "nowhere.gov")


def test_e04_multi_jurisdiction_lists_only_the_named_one(client, multi_catalogue):
    aurora = insert_request("aurora-il.org", "S0", ago(1)).service_request_id
    naperville = insert_request("naperville.il.us", "S0", ago(2)).service_request_id
    assert ids_of(client, {"jurisdiction_id": "aurora-il.org"}) == [aurora]
    assert ids_of(client, {"jurisdiction_id": "naperville.il.us"}) == [naperville]
    assert xml_ids(client, {"jurisdiction_id": "naperville.il.us"}) == [naperville]


def test_e04_multi_jurisdiction_detail(client, multi_catalogue):
    aurora = insert_request("aurora-il.org", "S1", ago(1)).service_request_id
    response = client.get(f"{B}/requests/{aurora}.xml")
    assert_error(response, 400, "xml", "jurisdiction_id")
    response = client.get(
        f"{B}/requests/{aurora}.xml", query_string={"jurisdiction_id": "nowhere.gov"}
    )
    assert_error(response, 404, "xml")
    response = client.get(
        f"{B}/requests/{aurora}.json", query_string={"jurisdiction_id": "naperville.il.us"}
    )
    assert_error(response, 404, "json")
    body = json_ok(
        client.get(f"{B}/requests/{aurora}.json", query_string={"jurisdiction_id": "aurora-il.org"})
    )
    assert [r["service_request_id"] for r in body] == [aurora]


def test_e03_single_jurisdiction_accepts_own_id_and_rejects_others(client, seed):
    row = seed(ago(1))
    plain = client.get(f"{B}/requests.xml")
    named = client.get(f"{B}/requests.xml", query_string={"jurisdiction_id": "aurora-il.org"})
    xml_ok(named)
    assert named.data == plain.data
    response = client.get(f"{B}/requests.json", query_string={"jurisdiction_id": "elsewhere.org"})
    assert_error(response, 404, "json")
    response = client.get(
        f"{B}/requests/{row.service_request_id}.xml", query_string={"jurisdiction_id": "x.org"}
    )
    assert_error(response, 404, "xml")


def test_e05_get_never_demands_an_api_key(client, seed, api_key):
    row = seed(ago(1))
    urls = [
        f"{B}/requests.xml",
        f"{B}/requests.json",
        f"{B}/requests/{row.service_request_id}.xml",
        f"{B}/requests/{row.service_request_id}.json",
    ]
    for url in urls:
        plain = client.get(url)
        assert plain.status_code == 200, (url, plain.data)
        for key in ("wrong-key", api_key):
            with_key = client.get(url, query_string={"api_key": key})
            assert with_key.status_code == 200, (url, with_key.data)
            assert with_key.data == plain.data


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_query_parameter_is_400(client, seed, fmt):
    seed(ago(1))
    response = client.get(f"{B}/requests.{fmt}", query_string={"colour": "red"})
    assert_error(response, 400, fmt, "colour")
    response = client.get(f"{B}/requests.{fmt}", query_string={"startdate": z(ago(5))})
    assert_error(response, 400, fmt, "startdate")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_query_parameter_on_detail_is_400(client, seed, fmt):
    row = seed(ago(1))
    response = client.get(
        f"{B}/requests/{row.service_request_id}.{fmt}", query_string={"colour": "red"}
    )
    assert_error(response, 400, fmt, "colour")


def test_personal_fields_never_published(client, seed):
    row = seed(ago(1), description="Public text", **PERSONAL)
    stored = db.session.get(ServiceRequest, row.id)
    assert stored.email == PERSONAL["email"]  # the seed really holds them
    responses = {
        "list.xml": client.get(f"{B}/requests.xml"),
        "list.json": client.get(f"{B}/requests.json"),
        "detail.xml": client.get(f"{B}/requests/{row.service_request_id}.xml"),
        "detail.json": client.get(f"{B}/requests/{row.service_request_id}.json"),
        "by-id.json": client.get(
            f"{B}/requests.json", query_string={"service_request_id": row.service_request_id}
        ),
    }
    for name, response in responses.items():
        assert response.status_code == 200, name
        assert b"Public text" in response.data, name
        for field, value in PERSONAL.items():
            assert value.encode() not in response.data, (name, field)
            assert field.encode() not in response.data, (name, field)
        if name.endswith(".json"):
            for item in json.loads(response.data):
                assert set(item) == set(REQUEST_FIELDS)
        else:
            for request in etree.fromstring(response.data):
                assert {child.tag for child in request} == set(REQUEST_FIELDS)
