"""City limits on both databases, with the real Census boundaries in ../shared/data."""

from __future__ import annotations

import copy
import json

import pytest
import sqlalchemy as sa

from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.jurisdictions import resolve_jurisdiction
from open311.limits import import_boundary
from open311.models import Boundary, BoundaryPart, ServiceRequest
from open311.spatial.geojson import LimitsError, limits_from_geojson, read_limits_file
from tests.conftest import catalogue_with_twin
from tests.helpers import error_descriptions, json_ok, shared_path, spark_document, xml_ok

B = "/open311/v2"
DOWNTOWN = (-88.3201, 41.7606)
INSIDE = [DOWNTOWN, (-88.338396, 41.765475), (-88.256620, 41.694709)]
ENCLAVES = [
    (-88.267723, 41.764036),
    (-88.282808, 41.744644),
    (-88.297456, 41.785965),
    (-88.272801, 41.777346),
    (-88.271532, 41.723751),
    (-88.363347, 41.749106),
]
LOOP = (-87.6298, 41.8781)
NAPERVILLE = (-88.1535, 41.7731)


def load_limits(jurisdiction_id: str, filename: str) -> None:
    jurisdiction = resolve_jurisdiction(jurisdiction_id)
    import_boundary(jurisdiction, read_limits_file(shared_path("data", filename)), filename)


def post(client, api_key, point, **extra):
    form = {"api_key": api_key, "service_code": "S0", "long": str(point[0]), "lat": str(point[1])}
    return client.post(f"{B}/requests.json", data={**form, **extra})


def validate(client, point, fmt="json", **extra):
    query = {"long": point[0], "lat": point[1], **extra}
    return client.get(f"{B}/locations/validate.{fmt}", query_string=query)


@pytest.fixture
def aurora(catalogue):
    load_limits("aurora-il.org", "aurora-il-boundary.geojson")


@pytest.mark.parametrize(
    "vintage", ["aurora-il-boundary.geojson", "aurora-il-boundary-tiger2019.geojson"]
)
def test_known_points_in_both_vintages(client, catalogue, vintage):
    load_limits("aurora-il.org", vintage)
    for point in INSIDE:
        assert json_ok(validate(client, point))["served"] is True, point
    for point in [*ENCLAVES, LOOP, NAPERVILLE]:
        body = json_ok(validate(client, point))
        assert body["served"] is False, point
        assert body["distance_m"] > 0


def test_post_outside_is_refused_with_distance(client, aurora, api_key):
    response = post(client, api_key, LOOP)
    (description,) = error_descriptions(response)
    assert response.status_code == 400
    assert description == "The location is 48.1 km outside the city limits of Aurora, Illinois."
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest)) == 0


def test_post_in_an_enclave_is_refused(client, aurora, api_key):
    response = post(client, api_key, ENCLAVES[0], description="x")
    assert response.status_code == 400
    assert "m outside the city limits of Aurora, Illinois" in error_descriptions(response)[0]


def test_post_inside_is_accepted(client, aurora, api_key):
    request_id = json_ok(post(client, api_key, DOWNTOWN))[0]["service_request_id"]
    record = json_ok(client.get(f"{B}/requests/{request_id}.json"))[0]
    assert (record["long"], record["lat"]) == DOWNTOWN


def test_address_only_requests_are_not_checked(client, aurora, api_key):
    response = client.post(
        f"{B}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "S0",
            "address_string": "233 S Wacker Dr, Chicago",
        },
    )
    json_ok(response)


def test_without_limits_every_point_is_served_and_said_so(client, catalogue, api_key):
    json_ok(post(client, api_key, LOOP))
    body = json_ok(validate(client, LOOP))
    assert body["served"] is True
    assert body["boundary_loaded"] is False
    assert "every location is accepted" in body["description"]
    (jurisdiction,) = json_ok(client.get(f"{B}/discovery.json"))["jurisdictions"]
    assert jurisdiction["boundary_loaded"] is False
    assert "no city limits loaded" in jurisdiction["limits"]
    status = client.application.test_cli_runner().invoke(args=["boundary", "status"])
    assert "aurora-il.org: no city limits loaded: every location is accepted" in status.output


def test_validate_answers_inside_and_outside(client, aurora):
    inside = json_ok(validate(client, DOWNTOWN))
    assert inside["served"] is True
    assert inside["jurisdiction_id"] == "aurora-il.org"
    assert inside["distance_m"] is None
    outside = json_ok(validate(client, LOOP))
    assert outside["served"] is False
    assert 48000 < outside["distance_m"] < 48300
    # The nearest point of the limits is the city's north-east edge, and it is on the limits.
    assert outside["nearest_long"] == pytest.approx(-88.205, abs=0.01)
    assert json_ok(validate(client, (outside["nearest_long"], outside["nearest_lat"])))["served"]
    for fmt_point in (DOWNTOWN, LOOP, ENCLAVES[1]):
        as_json = json.loads(validate(client, fmt_point).data)
        as_xml = validate(client, fmt_point, fmt="xml")
        xml_ok(as_xml)
        converted = spark_document(as_xml.data)
        for key in ("lat", "long", "nearest_lat", "nearest_long", "distance_m"):
            if converted[key] is not None:
                converted[key] = float(converted[key])
        converted["served"] = converted["served"] == "true"
        converted["boundary_loaded"] = converted["boundary_loaded"] == "true"
        assert converted == {
            k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
            for k, v in as_json.items()
        }


def test_validate_bad_input(client, aurora):
    json_ok(client.get(f"{B}/locations/validate.json?lat=41.7"), 400)
    json_ok(client.get(f"{B}/locations/validate.json?lat=95&long=0"), 400)
    json_ok(client.get(f"{B}/locations/validate.json?lat=nan&long=0"), 400)
    xml_ok(validate(client, DOWNTOWN, fmt="xml", service_code="NOPE"), 404)
    json_ok(validate(client, DOWNTOWN, jurisdiction_id="elsewhere"), 404)


def test_jurisdiction_list_and_limits(client, aurora):
    (listed,) = json_ok(client.get(f"{B}/jurisdictions.json"))
    assert listed["bbox"] == "-88.408369,41.679869,-88.204982,41.822179"
    assert listed["boundary_loaded"] is True
    assert "65 holes, 4,404 vertices" in listed["limits"]
    xml_ok(client.get(f"{B}/jurisdictions.xml"))
    response = client.get(f"{B}/jurisdictions/aurora-il.org.geojson")
    assert response.headers["Content-Type"] == "application/geo+json; charset=utf-8"
    feature = json.loads(response.data)
    assert feature["type"] == "Feature"
    assert feature["properties"]["jurisdiction_id"] == "aurora-il.org"
    drawn = limits_from_geojson(feature)
    assert drawn.equals(read_limits_file(shared_path("data", "aurora-il-boundary.geojson")))
    # RFC 7946: outer rings counter-clockwise (the Census file has them clockwise).
    from shapely.geometry import LinearRing

    assert LinearRing(feature["geometry"]["coordinates"][0][0]).is_ccw
    missing = client.get(f"{B}/jurisdictions/nowhere.geojson")
    assert missing.status_code == 404
    assert error_descriptions(missing)


def test_reimport_replaces_the_old_limits(client, aurora):
    first_checksum = db.session.scalars(sa.select(Boundary)).one().checksum
    assert json_ok(validate(client, (-88.265300, 41.764036)))["served"] is True
    load_limits("aurora-il.org", "aurora-il-boundary-tiger2019.geojson")
    db.session.expire_all()
    (boundary,) = db.session.scalars(sa.select(Boundary)).all()
    assert boundary.holes == 63
    assert boundary.checksum != first_checksum
    stale = (
        sa.select(sa.func.count())
        .select_from(BoundaryPart)
        .where(BoundaryPart.boundary_pk != boundary.id)
    )
    assert db.session.scalar(stale) == 0
    # A 2019 enclave that the city annexed by 2023 is outside again with the 2019 limits.
    assert json_ok(validate(client, (-88.265300, 41.764036)))["served"] is False


BAD_LIMITS = {
    "bow tie": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
    "a line": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
    "empty": {"type": "MultiPolygon", "coordinates": []},
    "projected": {"type": "Polygon", "coordinates": [[[1e6, 0], [1e6, 1e3], [2e6, 0], [1e6, 0]]]},
    "a point feature": {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}}],
    },
    "another crs": {
        "type": "Polygon",
        "crs": {"type": "name", "properties": {"name": "EPSG:3435"}},
        "coordinates": [[[0, 0], [0, 1], [1, 0], [0, 0]]],
    },
}


@pytest.mark.parametrize("name", sorted(BAD_LIMITS))
def test_bad_limits_are_refused_and_change_nothing(app, aurora, tmp_path, name):
    path = tmp_path / "limits.geojson"
    path.write_text(json.dumps(BAD_LIMITS[name]))
    result = app.test_cli_runner().invoke(
        args=["boundary", "import", "--jurisdiction", "aurora-il.org", str(path)]
    )
    assert result.exit_code != 0
    assert "refused, nothing was changed" in result.output
    assert db.session.scalar(sa.select(Boundary.source)) == "aurora-il-boundary.geojson"
    with pytest.raises(LimitsError):
        limits_from_geojson(BAD_LIMITS[name])


def test_cli_import_reports_what_it_loaded(app, catalogue):
    path = shared_path("data", "aurora-il-boundary.geojson")
    result = app.test_cli_runner().invoke(
        args=["boundary", "import", "--jurisdiction", "aurora-il.org", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "7 parts, 65 holes, 4,404 vertices" in result.output


@pytest.fixture
def two_cities(app):
    import_catalogue(catalogue_with_twin("chicago.gov", "City of Chicago"))
    load_limits("aurora-il.org", "aurora-il-boundary.geojson")
    load_limits("chicago.gov", "chicago-boundary.geojson")


def test_point_picks_its_jurisdiction(client, two_cities, api_key):
    loop_id = json_ok(post(client, api_key, LOOP))[0]["service_request_id"]
    aurora_id = json_ok(post(client, api_key, DOWNTOWN))[0]["service_request_id"]
    chicago = json_ok(client.get(f"{B}/requests.json?jurisdiction_id=chicago.gov"))
    aurora = json_ok(client.get(f"{B}/requests.json?jurisdiction_id=aurora-il.org"))
    assert [r["service_request_id"] for r in chicago] == [loop_id]
    assert [r["service_request_id"] for r in aurora] == [aurora_id]
    assert json_ok(validate(client, LOOP))["jurisdiction_id"] == "chicago.gov"


def test_point_in_another_jurisdiction_is_told_which(client, two_cities, api_key):
    response = post(client, api_key, LOOP, jurisdiction_id="aurora-il.org")
    (description,) = error_descriptions(response)
    assert response.status_code == 400
    assert "outside the city limits of Aurora, Illinois" in description
    assert (
        "within the limits of City of Chicago: send it with jurisdiction_id=chicago.gov"
        in description
    )


def test_point_in_neither_names_the_nearest(client, two_cities, api_key):
    response = post(client, api_key, NAPERVILLE)
    assert response.status_code == 400
    assert "outside the city limits of Aurora, Illinois" in error_descriptions(response)[0]


SQUARE_DOWNTOWN = {
    "type": "Polygon",
    "coordinates": [
        [[-88.33, 41.75], [-88.31, 41.75], [-88.31, 41.77], [-88.33, 41.77], [-88.33, 41.75]]
    ],
}


def test_service_area(client, catalogue, api_key):
    data = copy.deepcopy(catalogue)
    data["services"][0]["area"] = {
        "name": "the downtown leaf pick-up zone",
        "geometry": SQUARE_DOWNTOWN,
    }
    import_catalogue(data)
    load_limits("aurora-il.org", "aurora-il-boundary.geojson")
    json_ok(post(client, api_key, DOWNTOWN))
    outside_area = (-88.338396, 41.765475)  # in the city, west of the zone
    response = post(client, api_key, outside_area)
    (description,) = error_descriptions(response)
    assert description.startswith("Pothole is offered only in the downtown leaf pick-up zone;")
    assert description.endswith("m outside it.")
    body = json_ok(validate(client, outside_area, service_code="S0"))
    assert body["served"] is False
    assert body["description"] == description
    assert json_ok(validate(client, outside_area, service_code="S1"))["served"] is True
    # Re-importing the same catalogue with its area changes nothing.
    from open311.catalogue import import_catalogue as again

    assert not again(copy.deepcopy(data)).changed


def test_bad_service_area_is_refused(app, catalogue):
    from open311.catalogue import CatalogueError

    data = copy.deepcopy(catalogue)
    data["services"][0]["area"] = {"name": "x", "geometry": BAD_LIMITS["bow tie"]}
    with pytest.raises(
        CatalogueError, match=r"services\[0\] \(service_code 'S0'\)\.area\.geometry"
    ):
        import_catalogue(data)
