"""Geographic and text search, and ``extensions=true`` on ``GET requests`` (§2.4, §2.5).

Every test runs on SQLite (in-process distance) and on PostgreSQL (PostGIS, text search).
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from open311.extensions import db
from open311.models import ServiceRequest
from open311.models.requests import PUBLISHED
from open311.spatial.sphere import distance_m
from tests.api.test_get_requests import PERSONAL, B, ago, assert_error, get_json, ids_of
from tests.helpers import spark_document, xml_ok

DOWNTOWN = (41.7606, -88.3201)  # lat, long
NAPERVILLE = (41.7731, -88.1535)


def at(seed: Any, lat: float | None, long: float | None, **fields: Any) -> str:
    return seed(ago(1), lat=lat, long=long, **fields).service_request_id


# -- bbox ----------------------------------------------------------------------------------------


def test_bbox_keeps_points_inside_and_on_the_edges(client, seed):
    inside = at(seed, *DOWNTOWN)
    edge = at(seed, 41.70, -88.40)
    outside = at(seed, *NAPERVILLE)
    at(seed, None, None, address="1 Main St")
    found = ids_of(client, {"bbox": "-88.40,41.70,-88.20,41.80"})
    assert sorted(found) == sorted([inside, edge])
    assert outside not in found


def test_bbox_combines_with_status_and_window(client, seed):
    open_inside = at(seed, *DOWNTOWN)
    at(seed, *DOWNTOWN, status="closed")
    seed(ago(200), lat=DOWNTOWN[0], long=DOWNTOWN[1])
    assert ids_of(client, {"bbox": "-88.4,41.7,-88.2,41.8", "status": "open"}) == [open_inside]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "bbox",
    [
        "-88.4,41.7,-88.2",
        "-88.4,41.7,-88.2,41.8,1",
        "a,b,c,d",
        "-88.2,41.7,-88.4,41.8",
        "-88.4,41.8,-88.2,41.7",
        "-188,41.7,-88.2,41.8",
        "-88.4,41.7,-88.2,nan",
    ],
)
def test_bad_bbox_is_400(client, catalogue, fmt, bbox):
    assert_error(client.get(f"{B}/requests.{fmt}", query_string={"bbox": bbox}), 400, fmt, "bbox")


# -- lat / long / radius -------------------------------------------------------------------------


def test_radius_is_the_exact_distance_on_the_sphere(client, seed):
    centre = DOWNTOWN
    point = (41.7830, -88.2900)  # about 3.5 km north-east
    pid = at(seed, *point)
    metres = distance_m(*centre, *point)
    assert 3000 < metres < 4000
    query = {"lat": centre[0], "long": centre[1]}
    assert ids_of(client, {**query, "radius": metres + 0.5}) == [pid]
    assert ids_of(client, {**query, "radius": metres - 0.5}) == []


def test_radius_along_a_parallel_is_not_a_degree_box(client, seed):
    # 0.05 degrees of longitude is only ~4.15 km at Aurora's latitude, not 5.56 km.
    east = at(seed, DOWNTOWN[0], DOWNTOWN[1] + 0.05)
    north = at(seed, DOWNTOWN[0] + 0.05, DOWNTOWN[1])
    query = {"lat": DOWNTOWN[0], "long": DOWNTOWN[1], "radius": 5000}
    assert ids_of(client, query) == [east]
    assert north not in ids_of(client, query)


def test_radius_skips_requests_without_coordinates(client, seed):
    near = at(seed, *DOWNTOWN)
    at(seed, None, None, address="1 Main St")
    query = {"lat": DOWNTOWN[0], "long": DOWNTOWN[1], "radius": 10}
    assert ids_of(client, query) == [near]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"lat": "41.7", "long": "-88.3"}, "together"),
        ({"radius": "100"}, "together"),
        ({"lat": "41.7", "long": "-88.3", "radius": "0"}, "radius"),
        ({"lat": "41.7", "long": "-88.3", "radius": "-5"}, "radius"),
        ({"lat": "41.7", "long": "-88.3", "radius": "1e9"}, "radius"),
        ({"lat": "91", "long": "-88.3", "radius": "100"}, "lat"),
        ({"lat": "41.7", "long": "east", "radius": "100"}, "long"),
        ({"lat": "41.7", "long": "-88.3", "radius": "nan"}, "radius"),
    ],
)
def test_bad_radius_search_is_400(client, catalogue, fmt, query, needle):
    assert_error(client.get(f"{B}/requests.{fmt}", query_string=query), 400, fmt, needle)


# -- q -------------------------------------------------------------------------------------------


def test_q_matches_words_in_any_case(client, seed):
    deep = at(seed, *DOWNTOWN, description="Deep POTHOLE by the curb")
    at(seed, *DOWNTOWN, description="Graffiti on the bridge")
    at(seed, *DOWNTOWN)
    assert ids_of(client, {"q": "pothole"}) == [deep]
    assert ids_of(client, {"q": "curb deep"}) == [deep]
    assert ids_of(client, {"q": "curb graffiti"}) == []


def test_q_is_not_a_pattern(client, seed):
    at(seed, *DOWNTOWN, description="100 cans left out")
    assert ids_of(client, {"q": "%"}) == []
    assert ids_of(client, {"q": "_"}) == []


def test_q_combines_with_paging(client, seed):
    ids = [
        seed(ago(i + 1), description=f"Broken streetlight number {i}").service_request_id
        for i in range(3)
    ]
    seed(ago(1), description="Pothole")
    response = client.get(f"{B}/requests.json", query_string={"q": "streetlight", "page_size": 2})
    assert response.headers["X-Total-Count"] == "3"
    assert [r["service_request_id"] for r in response.get_json()] == ids[:2]


@pytest.mark.postgres_only
def test_q_on_postgresql_stems_and_takes_web_search_syntax(client, seed):
    holes = at(seed, *DOWNTOWN, description="Two potholes near the school")
    tree = at(seed, *DOWNTOWN, description="Fallen tree near the school")
    assert db.engine.dialect.name == "postgresql"
    assert ids_of(client, {"q": "pothole"}) == [holes]
    assert sorted(ids_of(client, {"q": "school"})) == sorted([holes, tree])
    assert ids_of(client, {"q": "school -tree"}) == [holes]
    assert sorted(ids_of(client, {"q": "pothole or tree"})) == sorted([holes, tree])


# -- extensions=true -----------------------------------------------------------------------------


def extended_seed(seed: Any) -> str:
    row = seed(ago(1), service_code="S1", channel="phone", description="Branch down", **PERSONAL)
    row.attributes = {"REQ1": "T-17", "MUL": ["x", "z"], "NUM": "3"}
    db.session.commit()
    return row.service_request_id


def test_extensions_add_extended_attributes(client, seed):
    rid = extended_seed(seed)
    [body] = get_json(client, {"extensions": "true"})
    assert body["service_request_id"] == rid
    assert body["extended_attributes"] == {
        "channel": "phone",
        "group": "Forestry",
        "attributes": [
            {"code": "REQ1", "values": ["T-17"]},
            {"code": "MUL", "values": ["x", "z"]},
            {"code": "NUM", "values": ["3"]},
        ],
        "duplicate": False,
        "parent_service_request_id": None,
        "history_length": 0,
    }


@pytest.mark.parametrize("flag", [None, "false"])
def test_without_extensions_the_request_stays_plain_v2(client, seed, flag):
    extended_seed(seed)
    [body] = get_json(client, {"extensions": flag} if flag else None)
    assert "extended_attributes" not in body
    assert len(body) == 17


def test_extensions_json_is_spark_of_xml(client, seed):
    extended_seed(seed)
    at(seed, *DOWNTOWN)  # no channel, no answers: empty elements and an empty container
    xml = client.get(f"{B}/requests.xml", query_string={"extensions": "true"})
    xml_ok(xml)
    assert spark_document(xml.data) == get_json(client, {"extensions": "true"})


def test_extensions_never_carry_personal_data(client, seed):
    extended_seed(seed)
    for fmt in ("json", "xml"):
        body = client.get(f"{B}/requests.{fmt}", query_string={"extensions": "true"}).data
        for value in PERSONAL.values():
            assert value.encode() not in body


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_extensions_flag_is_400(client, catalogue, fmt):
    response = client.get(f"{B}/requests.{fmt}", query_string={"extensions": "maybe"})
    assert_error(response, 400, fmt, "extensions")


def test_duplicates_name_their_parent(app, client, seed):
    parent = seed(ago(3)).service_request_id
    copy = seed(ago(1)).service_request_id
    result = app.test_cli_runner().invoke(args=["requests", "duplicate", copy, "--of", parent])
    assert result.exit_code == 0, result.output
    bodies = {b["service_request_id"]: b for b in get_json(client, {"extensions": "true"})}
    assert bodies[copy]["status"] == "closed"
    assert bodies[copy]["status_notes"] == f"Duplicate of request {parent}."
    assert bodies[copy]["extended_attributes"]["duplicate"] is True
    assert bodies[copy]["extended_attributes"]["parent_service_request_id"] == parent
    assert bodies[parent]["extended_attributes"]["duplicate"] is False
    xml = client.get(f"{B}/requests.xml", query_string={"extensions": "true"})
    assert spark_document(xml.data) == get_json(client, {"extensions": "true"})


@pytest.mark.parametrize("case", ["itself", "cycle", "unknown"])
def test_duplicate_links_that_make_no_sense_are_refused(app, seed, case):
    a = seed(ago(3)).service_request_id
    b = seed(ago(2)).service_request_id
    runner = app.test_cli_runner()
    if case == "cycle":
        assert runner.invoke(args=["requests", "duplicate", b, "--of", a]).exit_code == 0
        args = [a, "--of", b]
    else:
        args = [a, "--of", a if case == "itself" else "999999"]
    result = runner.invoke(args=["requests", "duplicate", *args])
    assert result.exit_code == 1
    assert (
        "cannot duplicate itself" if case != "unknown" else "No service request"
    ) in result.output
    db.session.remove()
    assert db.session.get(ServiceRequest, int(a)).parent_pk is None


@pytest.mark.postgres_only
def test_feed_counts_can_use_the_partial_sort_indexes(app, seed):
    """The feeds' condition on published requests must match the partial indexes' predicate."""
    seed(ago(1))
    counted = (
        sa.select(sa.func.count(ServiceRequest.id))
        .where(PUBLISHED, ServiceRequest.updated_datetime >= ago(2))
        .compile(db.engine, compile_kwargs={"literal_binds": True})
    )
    with db.engine.connect() as connection:
        connection.execute(sa.text("SET enable_seqscan = off"))
        connection.execute(sa.text("SET enable_bitmapscan = off"))
        plan = "\n".join(row[0] for row in connection.execute(sa.text(f"EXPLAIN {counted}")))
    assert "ix_service_requests_updated" in plan, plan
