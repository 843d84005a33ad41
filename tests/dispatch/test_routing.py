"""Routing services to back ends through the catalogue, and the dispatch commands."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from open311 import dispatch
from open311.catalogue import CatalogueError, import_catalogue
from open311.extensions import db
from open311.models import Backend, Service
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import department_backend, jobs, post


def catalogue_with(**backends):
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = backends
    return data


def test_services_default_to_local_and_follow_the_jurisdiction(app, fast_retries):
    data = catalogue_with(streets=department_backend("http://127.0.0.1:9"))
    data["jurisdictions"][0]["backend"] = "streets"
    data["services"][1]["backend"] = "local"
    import_catalogue(data)
    routes = dict(db.session.execute(sa.select(Service.service_code, Service.backend)).all())
    assert routes == {"S0": "streets", "S1": None, "SB": "streets", "SX": "streets"}
    backend = db.session.scalar(sa.select(Backend))
    assert (backend.name, backend.adapter) == ("streets", "department")
    assert backend.settings["read_timeout"] == 0.5


def test_adapter_not_enabled_is_refused(app):
    data = catalogue_with(streets=department_backend("http://127.0.0.1:9"))
    data["services"][0]["backend"] = "streets"
    with pytest.raises(CatalogueError) as caught:
        import_catalogue(data)
    assert caught.value.problems == [
        "backends.streets.adapter: adapter 'department' is not enabled; "
        "add it to OPEN311_ADAPTERS (now local)"
    ]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Service)) == 0


def test_bad_backend_settings_and_unknown_names_are_refused(app, fast_retries):
    data = catalogue_with(
        streets={"adapter": "department", "settings": {"base_url": "ftp://x", "client_id": "a"}},
        ghost={"adapter": "nonesuch"},
    )
    data["services"][0]["backend"] = "nowhere"
    with pytest.raises(CatalogueError) as caught:
        import_catalogue(data)
    assert caught.value.problems == [
        "services[0] (service_code 'S0').backend: no back end 'nowhere' in backends"
    ]
    data["services"][0]["backend"] = "streets"
    with pytest.raises(CatalogueError) as caught:
        import_catalogue(data)
    assert caught.value.problems == [
        "backends.streets.settings.base_url: Must be an http(s) URL.",
        "backends.streets.settings.client_secret: Missing data for required field.",
        "backends.ghost.adapter: adapter 'nonesuch' is not enabled; "
        "add it to OPEN311_ADAPTERS (now local,department,citysourced)",
    ]


def test_every_request_gets_one_job_in_its_own_transaction(client, routed, api_key):
    first = post(client, api_key)
    second = post(client, api_key, code="S1", **{"attribute[REQ1]": "x"})
    assert [(j.request.service_request_id, j.backend, j.state) for j in jobs()] == [
        (first["service_request_id"], "streets", "queued"),
        (second["service_request_id"], "local", "queued"),
    ]
    keys = {j.idempotency_key for j in jobs()}
    assert len(keys) == 2
    assert all(len(k) == 36 for k in keys)


def test_bad_post_leaves_no_job(client, routed, api_key):
    response = client.post(
        "/open311/v2/requests.json", data={"api_key": api_key, "service_code": "S1"}
    )
    assert response.status_code == 400
    assert jobs() == []


def test_dispatch_list_and_retry_commands(client, app, fast_retries, api_key, department):
    data = catalogue_with(streets=department_backend(department.url, client_secret="wrong"))
    data["services"][0]["backend"] = "streets"
    import_catalogue(data)
    receipt = post(client, api_key, email="pat@example.org", first_name="Pat")
    assert dispatch.work_once() == "failed"
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["dispatch", "list", "--failed"])
    assert listed.exit_code == 0
    [line] = listed.output.splitlines()
    job_id, request_id, backend, state, attempts, error = line.split("\t")
    assert (request_id, backend, state, attempts) == (
        receipt["service_request_id"],
        "streets",
        "failed",
        "1",
    )
    assert "credentials refused" in error
    assert "pat@example.org" not in listed.output
    assert "Pat" not in listed.output

    # The operator fixes the secret, then re-queues the dead letter.
    data["backends"]["streets"]["settings"]["client_secret"] = "s3cret"
    import_catalogue(data)
    key = jobs()[0].idempotency_key
    retried = runner.invoke(args=["dispatch", "retry", job_id])
    assert retried.exit_code == 0, retried.output
    assert runner.invoke(args=["dispatch", "list", "--failed"]).stdout == ""
    assert runner.invoke(args=["dispatch"]).stdout == "1 request(s) delivered.\n"
    [job] = jobs()
    assert (job.state, job.idempotency_key) == ("delivered", key)
    [record] = department.records()
    assert record["key"] == key
    again = runner.invoke(args=["dispatch", "retry", job_id])
    assert again.exit_code == 1
    assert "is delivered, not failed" in again.output
    assert runner.invoke(args=["dispatch", "retry", "999999"]).exit_code == 1


def test_secrets_come_from_the_environment_and_are_not_stored(
    client, app, fast_retries, api_key, department, monkeypatch
):
    backend = department_backend(department.url, client_secret={"env": "DEPT_SECRET"})
    data = catalogue_with(streets=backend)
    data["services"][0]["backend"] = "streets"
    with pytest.raises(CatalogueError) as caught:
        import_catalogue(copy.deepcopy(data))
    assert caught.value.problems == [
        "backends.streets.settings.client_secret: environment variable DEPT_SECRET is not set"
    ]
    monkeypatch.setenv("DEPT_SECRET", "s3cret")
    import_catalogue(copy.deepcopy(data))
    stored = db.session.scalar(sa.select(Backend)).settings
    assert stored["client_secret"] == {"env": "DEPT_SECRET"}
    assert "s3cret" not in repr(stored)
    post(client, api_key)
    assert dispatch.work_once() == "delivered"
    assert len(department.records()) == 1
