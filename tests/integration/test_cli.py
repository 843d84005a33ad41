"""The ``open311`` commands against both databases."""

import copy

import sqlalchemy as sa
import yaml

from open311.extensions import db
from open311.models import ApiKey, Service, ServiceRequest
from tests.conftest import TEST_CATALOGUE
from tests.helpers import json_ok

B = "/open311/v2"


def write_catalogue(tmp_path, data, name="catalogue.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_services_import_then_reimport_changes_nothing(app, tmp_path):
    runner = app.test_cli_runner()
    path = write_catalogue(tmp_path, TEST_CATALOGUE)
    first = runner.invoke(args=["services", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert "created: aurora-il.org/S0" in first.output
    stamps = dict(db.session.execute(sa.select(Service.service_code, Service.updated_at)).all())
    db.session.remove()
    second = runner.invoke(args=["services", "import", str(path)])
    assert second.exit_code == 0
    assert "catalogue unchanged (4 services)" in second.output
    assert (
        dict(db.session.execute(sa.select(Service.service_code, Service.updated_at)).all())
        == stamps
    )


def test_services_import_json_updates_changed_entries(app, tmp_path):
    runner = app.test_cli_runner()
    runner.invoke(args=["services", "import", str(write_catalogue(tmp_path, TEST_CATALOGUE))])
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"][0]["service_name"] = "Pothole in the street"
    path = tmp_path / "catalogue.json"
    path.write_text(yaml.safe_dump(data, default_flow_style=True))  # flow YAML is JSON-ish
    path.write_text(__import__("json").dumps(data))
    result = runner.invoke(args=["services", "import", str(path)])
    assert result.exit_code == 0
    assert "updated: aurora-il.org/S0" in result.output
    assert db.session.scalar(
        sa.select(Service.service_name).where(Service.service_code == "S0")
    ) == ("Pothole in the street")


def test_bad_catalogue_is_refused_whole(app, tmp_path):
    data = copy.deepcopy(TEST_CATALOGUE)
    data["services"][3]["type"] = "sometimes"
    result = app.test_cli_runner().invoke(
        args=["services", "import", str(write_catalogue(tmp_path, data))]
    )
    assert result.exit_code == 1
    assert "nothing was loaded" in result.output
    assert "services[3] (service_code 'SX').type: Must be one of" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Service)) == 0


def test_keys_create_prints_key_last_and_stores_only_a_hash(app, client, tmp_path):
    runner = app.test_cli_runner()
    runner.invoke(args=["services", "import", str(write_catalogue(tmp_path, TEST_CATALOGUE))])
    result = runner.invoke(args=["keys", "create", "--name", "Aurora app"])
    assert result.exit_code == 0
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("o311_")
    assert " " not in key
    stored = db.session.scalars(sa.select(ApiKey)).one()
    assert stored.name == "Aurora app"
    assert key not in (stored.key_hash, stored.prefix)
    response = client.post(
        f"{B}/requests.json", data={"api_key": key, "service_code": "S0", "address_id": "A-1"}
    )
    json_ok(response)


def test_requests_close(app, catalogue, seed):
    from open311.clock import utcnow

    row = seed(utcnow())
    result = app.test_cli_runner().invoke(
        args=["requests", "close", row.service_request_id, "--notes", "Filled"]
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    closed = db.session.get(ServiceRequest, row.id)
    assert (closed.status, closed.status_notes) == ("closed", "Filled")
    missing = app.test_cli_runner().invoke(args=["requests", "close", "999999"])
    assert missing.exit_code != 0
    assert "999999" in missing.output
