"""``open311 requests import`` on both databases, with the real feeds in ../shared/data."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from open311.extensions import db
from open311.models import Service, ServiceRequest
from tests.api.test_get_requests import PERSONAL, B, ago
from tests.helpers import json_ok, shared_path

SAMPLES = "data/open311-samples"


def sample(name: str) -> str:
    return str(shared_path(*SAMPLES.split("/"), name))


def run_import(app, *args):
    return app.test_cli_runner().invoke(args=["requests", "import", *args])


def stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest))


def published(client, request_id: str) -> dict:
    [body] = json_ok(client.get(f"{B}/requests/{request_id}.json"))
    return body


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("chicago-requests.json", 2),
        ("toronto-requests.xml", 2),
        ("toronto-requests-single.xml", 1),
        ("bloomington-requests.json", 21),
        ("san-francisco-requests.xml", 56),
        ("helsinki-request-extended.json", 1),
    ],
)
def test_every_sample_imports_and_reimports_unchanged(app, catalogue, name, count):
    first = run_import(app, sample(name))
    assert first.exit_code == 0, first.stderr
    assert f"{count} created, 0 updated, 0 unchanged" in first.stdout
    assert stored() == count
    db.session.remove()
    again = run_import(app, sample(name))
    assert again.exit_code == 0, again.stderr
    assert f"0 created, 0 updated, {count} unchanged" in again.stdout
    assert stored() == count


def test_san_francisco_quirks(app, client, catalogue):
    result = run_import(
        app, sample("san-francisco-requests.xml"), "--timezone", "America/Los_Angeles"
    )
    assert result.exit_code == 0, result.stderr
    assert "datetimes had no time zone" in result.stdout
    first = published(client, "1129806")
    assert first["status"] == "open"  # published as "Open"
    assert first["requested_datetime"] == "2012-05-23T06:57:23Z"  # 23:57:23.97 PDT
    assert first["updated_datetime"] == first["requested_datetime"]  # xsi:nil
    assert first["expected_datetime"] == "2012-05-31T15:30:00Z"
    assert (first["lat"], first["long"], first["zipcode"]) == (None, None, None)  # 0.0, 0.0, 0
    assert first["address"] == "SAN FRANCISCO , CA"
    located = published(client, "1129792")
    assert (located["lat"], located["long"]) == (37.77944, -122.404434)
    statuses = db.session.scalars(sa.select(ServiceRequest.status).distinct())
    assert sorted(statuses) == ["closed", "open"]


def test_imported_services_are_retired_and_keep_their_names(app, client, catalogue):
    run_import(app, sample("chicago-requests.json"))
    service = db.session.scalar(
        sa.select(Service).where(Service.service_code == "4ffa9cad6018277d4000007b")
    )
    assert (service.service_name, service.active) == ("Alley Light Out", False)
    codes = [s["service_code"] for s in json_ok(client.get(f"{B}/services.json"))]
    assert "4ffa9cad6018277d4000007b" not in codes
    body = published(client, "14-01100669")
    assert body["service_name"] == "Alley Light Out"
    assert body["requested_datetime"] == "2014-07-12T15:58:43Z"
    assert body["lat"] == 41.858724777757864


def test_bloomington_nulls_zeros_and_line_breaks(app, client, catalogue):
    run_import(app, sample("bloomington-requests.json"))
    rows = json.loads(shared_path(*SAMPLES.split("/"), "bloomington-requests.json").read_text())
    for row in rows:
        body = published(client, row["service_request_id"])
        if not row["lat"]:
            assert (body["lat"], body["long"]) == (None, None)
        else:
            assert (body["lat"], body["long"]) == (row["lat"], row["long"])
        assert body["media_url"] == (row["media_url"] or None)
        assert body["description"] == ((row["description"] or "").strip() or None)
    assert "\r\n" in published(client, "4fbd40b2b1fe2c4b02000001")["description"]


def test_a_byte_order_mark_and_a_single_object(app, client, catalogue, tmp_path):
    data = shared_path(*SAMPLES.split("/"), "helsinki-request-extended.json").read_bytes()
    path = tmp_path / "helsinki.json"
    path.write_bytes(b"\xef\xbb\xbf" + data)
    result = run_import(app, str(path))
    assert result.exit_code == 0, result.stderr
    body = published(client, "3qp16kaphhsc78uc422l")
    assert body["status"] == "closed"
    assert body["service_name"] == "584"  # the feed's name is empty
    assert body["requested_datetime"] == "2016-03-22T11:27:16Z"


def test_empty_xml_elements_are_unknown(app, client, catalogue):
    run_import(app, sample("toronto-requests.xml"))
    body = published(client, "101005420892")
    assert (body["description"], body["zipcode"], body["media_url"]) == (None, None, None)
    assert body["updated_datetime"] == body["requested_datetime"] == "2018-07-30T04:01:00Z"
    assert body["address_id"] == "13459430"


def test_bad_records_are_reported_line_by_line_and_nothing_is_stored(app, catalogue, tmp_path):
    path = tmp_path / "feed.json"
    path.write_text(
        json.dumps(
            [
                {
                    "service_request_id": "A1",
                    "service_code": "X",
                    "status": "open",
                    "requested_datetime": "2020-01-01T00:00:00Z",
                },
                {
                    "service_request_id": "A2",
                    "service_code": "X",
                    "status": "pending",
                    "requested_datetime": "2020-01-01T00:00:00Z",
                    "lat": 95,
                    "long": 1,
                },
                {"service_request_id": "A3", "status": "open", "requested_datetime": "yesterday"},
                {
                    "service_request_id": "A1",
                    "service_code": "X",
                    "status": "open",
                    "requested_datetime": "2020-01-01T00:00:00Z",
                },
                "not an object",
            ]
        )
    )
    result = run_import(app, str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].endswith("refused, nothing was imported:")
    assert "  record 2 (A2): status 'pending' is neither open nor closed" in lines
    assert "  record 2 (A2): lat: 95 is out of range" in lines
    assert "  record 3 (A3): service_code is missing" in lines
    assert any(line.startswith("  record 3 (A3): requested_datetime:") for line in lines)
    assert "  record 4 (A1): service_request_id repeats record 1" in lines
    assert "  record 5: is not an object" in lines
    assert stored() == 0
    assert db.session.scalar(sa.select(Service).where(Service.service_code == "X")) is None


def test_bad_xml_records_name_their_lines(app, catalogue, tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(
        "<service_requests>\n<request><service_request_id>1</service_request_id>"
        "<service_code>C</service_code><status>open</status>"
        "<requested_datetime>2020-01-01T00:00:00Z</requested_datetime></request>\n"
        "<request><service_request_id>2</service_request_id><service_code>C</service_code>"
        "<status>open</status></request>\n</service_requests>\n"
    )
    result = run_import(app, str(path))
    assert result.exit_code == 1
    assert "  line 3 (2): requested_datetime is missing" in result.stderr.splitlines()
    assert stored() == 0


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("giessen-services.xml", "root element is <services>"),
        ("helsinki-discovery.json", "missing"),
    ],
)
def test_feeds_that_are_not_requests_are_refused(app, catalogue, name, needle):
    result = run_import(app, sample(name))
    assert result.exit_code == 1
    assert needle in result.stderr
    assert stored() == 0


def test_clashing_ids_are_namespaced_and_found_again(app, client, seed, tmp_path):
    native = seed(ago(1))
    path = tmp_path / "old.json"
    feed = [
        {
            "service_request_id": native.service_request_id,
            "service_code": "S0",
            "status": "closed",
            "requested_datetime": "2019-05-01T12:00:00Z",
        }
    ]
    path.write_text(json.dumps(feed))
    result = run_import(app, str(path), "--source", "legacy")
    assert result.exit_code == 0, result.stderr
    renamed = f"legacy:{native.service_request_id}"
    assert f"published as: {native.service_request_id} -> {renamed}" in result.stdout
    assert published(client, renamed)["status"] == "closed"
    assert published(client, native.service_request_id)["status"] == "open"
    feed[0]["status"] = "open"
    path.write_text(json.dumps(feed))
    again = run_import(app, str(path), "--source", "legacy")
    assert "0 created, 1 updated, 0 unchanged" in again.stdout
    assert published(client, renamed)["status"] == "open"
    assert stored() == 2


def test_native_ids_continue_after_imported_numeric_ids(app, client, catalogue, api_key, tmp_path):
    path = tmp_path / "old.json"
    path.write_text(
        json.dumps(
            [
                {
                    "service_request_id": "500",
                    "service_code": "S0",
                    "status": "open",
                    "requested_datetime": "2019-05-01T12:00:00Z",
                }
            ]
        )
    )
    assert run_import(app, str(path)).exit_code == 0
    db.session.remove()
    response = client.post(
        f"{B}/requests.json",
        data={"api_key": api_key, "service_code": "S0", "lat": "41.76", "long": "-88.32"},
    )
    [receipt] = json_ok(response)
    assert int(receipt["service_request_id"]) > 500


def test_csv_export_imports_back_identically(app, client, seed, tmp_path):
    seed(ago(3), lat=41.76, long=-88.32, description="=cmd|' /C calc'!A0", **PERSONAL)
    seed(ago(2), status="closed", address="-1 Negative St", zipcode="60505")
    before = json_ok(client.get(f"{B}/requests.json"))
    target = tmp_path / "export.csv"
    assert app.test_cli_runner().invoke(args=["export", str(target)]).exit_code == 0
    db.session.execute(sa.delete(ServiceRequest))
    db.session.commit()
    result = run_import(app, str(target))
    assert result.exit_code == 0, result.stderr
    assert json_ok(client.get(f"{B}/requests.json")) == before
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(ServiceRequest.email.is_not(None))) == 0
    )


@pytest.fixture
def sample_server() -> Iterator[str]:
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(shared_path(*SAMPLES.split("/")))
    )
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_import_from_a_url(app, client, catalogue, sample_server):
    result = run_import(app, f"{sample_server}/chicago-requests.json")
    assert result.exit_code == 0, result.stderr
    assert "source '127.0.0.1'" in result.stdout
    assert published(client, "14-01100627")["status_notes"] == "Locked"
    missing = run_import(app, f"{sample_server}/nothing.json")
    assert missing.exit_code == 1
    assert "HTTP 404" in missing.stderr


def test_unknown_time_zone_is_a_usage_error(app, catalogue):
    result = run_import(app, sample("chicago-requests.json"), "--timezone", "Mars/Olympus")
    assert result.exit_code == 2
    assert stored() == 0
