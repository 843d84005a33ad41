"""``GET requests.geojson`` and ``GET requests.csv`` on both databases."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa

from open311.bulk import FIELD_NAMES, escape_cell
from open311.extensions import db
from open311.models import Service, ServiceRequest
from schemas.requests import ServiceRequestSchema
from tests.api.test_get_requests import PERSONAL, B, ago, assert_error, get_json, z
from tests.helpers import REQUEST_FIELDS


def geojson(client: Any, query: Any = None) -> dict[str, Any]:
    response = client.get(f"{B}/requests.geojson", query_string=query)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == "application/geo+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return json.loads(response.data)


def csv_rows(client: Any, query: Any = None) -> list[dict[str, str]]:
    response = client.get(f"{B}/requests.csv", query_string=query)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.is_streamed
    text = response.data.decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames) == REQUEST_FIELDS
    return list(reader)


def test_public_columns_are_exactly_the_wire_fields():
    assert FIELD_NAMES == REQUEST_FIELDS == tuple(ServiceRequestSchema().fields)


def test_geojson_is_a_feature_collection_of_the_listing(client, seed):
    located = seed(ago(1), lat=41.7606, long=-88.3201, description="Pothole").service_request_id
    unlocated = seed(ago(2), address="1 Main St").service_request_id
    seed(ago(200))  # outside the default window, like GET requests
    body = geojson(client)
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == [located, unlocated]
    first, second = body["features"]
    assert first["type"] == "Feature"
    assert first["geometry"] == {"type": "Point", "coordinates": [-88.3201, 41.7606]}
    assert second["geometry"] is None
    listing = get_json(client)
    assert [f["properties"] for f in body["features"]] == listing


def test_geojson_takes_the_same_filters(client, seed):
    closed = seed(ago(400), updated=ago(1), status="closed", lat=41.76, long=-88.32)
    seed(ago(400), updated=ago(1), lat=41.76, long=-88.32)
    seed(ago(400), updated=ago(1), status="closed", lat=41.9, long=-87.6)
    query = {
        "updated_after": z(ago(2)),
        "status": "closed",
        "bbox": "-88.4,41.7,-88.2,41.8",
    }
    assert [f["id"] for f in geojson(client, query)["features"]] == [closed.service_request_id]


def test_empty_geojson_is_an_empty_collection(client, catalogue):
    assert geojson(client) == {"type": "FeatureCollection", "features": []}


def test_csv_has_one_row_per_request_in_georeport_names(client, seed):
    first = seed(ago(1), lat=41.7606, long=-88.3201, description="Line one\nline two, with comma")
    seed(ago(2), address='1 "Main" St')
    rows = csv_rows(client)
    listing = get_json(client)
    assert len(rows) == len(listing) == 2
    for row, item in zip(rows, listing, strict=True):
        for name in REQUEST_FIELDS:
            expected = item[name]
            assert row[name] == ("" if expected is None else str(expected)), name
    assert rows[0]["service_request_id"] == first.service_request_id
    assert rows[0]["description"] == "Line one\nline two, with comma"
    assert rows[1]["address"] == '1 "Main" St'


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
)
def test_csv_escapes_formula_cells(client, seed, text):
    seed(ago(1), description=text, address=text, lat=41.7, long=-88.3)
    [row] = csv_rows(client)
    assert row["description"] == "'" + text
    assert row["address"] == "'" + text
    assert row["long"] == "-88.3"  # numbers are not formulas


def test_escape_leaves_ordinary_text_alone():
    assert escape_cell("Pothole - deep") == "Pothole - deep"
    assert escape_cell(None) is None
    assert escape_cell(-88.3) == -88.3


def seed_many(count: int) -> list[str]:
    """Insert ``count`` requests a minute apart in one transaction; ids newest first."""
    service = db.session.scalar(sa.select(Service).where(Service.service_code == "S0"))
    rows = [
        ServiceRequest(
            jurisdiction_pk=service.jurisdiction_pk,
            service_pk=service.id,
            status="open",
            requested_datetime=ago(1, minutes=i),
            updated_datetime=ago(1, minutes=i),
            attributes={},
        )
        for i in range(count)
    ]
    db.session.add_all(rows)
    db.session.flush()
    for row in rows:
        row.service_request_id = str(row.id)
    db.session.commit()
    return [row.service_request_id for row in rows]


def test_csv_streams_many_rows_in_order(client, catalogue):
    ids = seed_many(1200)
    rows = csv_rows(client)
    assert [r["service_request_id"] for r in rows] == ids  # not capped at 1,000


@pytest.mark.parametrize("path", ["requests.geojson", "requests.csv"])
def test_bulk_feeds_never_carry_personal_data(client, seed, path):
    seed(ago(1), lat=41.76, long=-88.32, channel="phone", **PERSONAL)
    body = client.get(f"{B}/{path}", query_string={"q": "", "status": "open"}).data
    assert body.count(b"open") >= 1
    for value in PERSONAL.values():
        assert value.encode() not in body


@pytest.mark.parametrize("path", ["requests.geojson", "requests.csv"])
@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"page_size": "10"}, "not paged"),
        ({"extensions": "true"}, "not available"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"status": "pending"}, "status"),
        ({"nonsense": "1"}, "nonsense"),
        ({"start_date": "2020-01-01", "end_date": "2021-01-01"}, "90 days"),
    ],
)
def test_bad_bulk_queries_are_json_400_before_streaming(client, catalogue, path, query, needle):
    assert_error(client.get(f"{B}/{path}", query_string=query), 400, "json", needle)


def test_bulk_feeds_need_jurisdiction_in_multi_mode(client, multi_catalogue):
    response = client.get(f"{B}/requests.geojson")
    assert_error(response, 400, "json", "jurisdiction_id")


def test_wire_rows_are_what_the_wire_schema_dumps(client, seed):
    """Listings render from database rows directly; they must equal the schema's dump."""
    full = seed(
        ago(3, seconds=0.5),
        updated=ago(1),
        status="closed",
        status_notes="Filled",
        description="Deep",
        agency_responsible="Streets",
        service_notice="Soon",
        expected_datetime=ago(-2),
        address="1 Main St",
        address_id="A1",
        zipcode="60505",
        lat=41.7606,
        long=-88.3201,
        media_url="https://example.org/x.jpg",
        **PERSONAL,
    )
    bare = seed(ago(2), service_code="S1")
    schema = ServiceRequestSchema()
    for row in (full, bare):
        db.session.refresh(row)
        expected = schema.dump(row)
        [listed] = get_json(client, {"service_request_id": row.service_request_id})
        [detail] = json.loads(client.get(f"{B}/requests/{row.service_request_id}.json").data)
        assert listed == detail == expected
