"""``open311 export`` on both databases."""

from __future__ import annotations

import csv
import json

import pytest

from tests.api.test_get_requests import PERSONAL, B, ago, get_json, z
from tests.helpers import REQUEST_FIELDS


def export(app, *args):
    return app.test_cli_runner().invoke(args=["export", *args])


def test_json_export_is_the_listing(app, client, seed, tmp_path):
    seed(ago(1), lat=41.76, long=-88.32, description="Pothole", **PERSONAL)
    seed(ago(2), status="closed")
    target = tmp_path / "requests.json"
    result = export(app, "--format", "json", str(target))
    assert result.exit_code == 0, result.output
    assert "2 requests written as json" in result.output
    assert json.loads(target.read_text()) == get_json(client)
    for value in PERSONAL.values():
        assert value not in target.read_text()
    assert not (tmp_path / "requests.json.part").exists()


def test_csv_export_with_filters_reaches_old_history(app, seed, tmp_path):
    old = seed(ago(1500), updated=ago(1400), status="closed", description="=1+1")
    seed(ago(1500), updated=ago(1400))
    seed(ago(1))
    target = tmp_path / "history.csv"
    result = export(
        app,
        "--updated-after",
        "1970-01-01",
        "--updated-before",
        z(ago(1000)),
        "--status",
        "closed",
        str(target),
    )
    assert result.exit_code == 0, result.output
    with target.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == REQUEST_FIELDS
        rows = list(reader)
    assert [r["service_request_id"] for r in rows] == [old.service_request_id]
    assert rows[0]["description"] == "'=1+1"


def test_geojson_export_to_stdout(app, client, seed):
    seed(ago(1), lat=41.76, long=-88.32)
    result = export(app, "--format", "geojson", "--bbox", "-88.4,41.7,-88.2,41.8", "-")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    expected = json.loads(
        client.get(f"{B}/requests.geojson", query_string={"bbox": "-88.4,41.7,-88.2,41.8"}).data
    )
    assert body == expected
    assert len(body["features"]) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--status", "pending"], "status"),
        (["--bbox", "1,2"], "bbox"),
        (["--lat", "41.7"], "together"),
        (["--jurisdiction-id", "elsewhere.gov"], "Unknown jurisdiction_id"),
        (["--format", "xlsx"], "xlsx"),
    ],
)
def test_bad_options_write_nothing(app, seed, tmp_path, args, needle):
    target = tmp_path / "out.csv"
    result = export(app, *args, str(target))
    assert result.exit_code == 2
    assert needle in result.output
    assert list(tmp_path.iterdir()) == []
