"""The console script end to end: migrate, import, make a key, serve with gunicorn, use it.

This is the README's first command as a user meets it, on both databases.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.conftest import throwaway_postgres_database
from tests.helpers import REQUEST_FIELDS, ROOT, shared_path, spark_document

OPEN311 = str(Path(sys.executable).with_name("open311"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [OPEN311, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('e2e')}/gateway.sqlite3"
    else:
        with throwaway_postgres_database() as url:
            yield url


@pytest.fixture(scope="module")
def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "OPEN311_DATABASE_URL": database_url}


@pytest.fixture(scope="module")
def gateway(env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A served gateway with Aurora's catalogue; yields (base URL, API key)."""
    run(env, "db", "upgrade")
    run(env, "services", "import", str(ROOT / "fixtures" / "aurora-catalogue.yaml"))
    key = run(env, "keys", "create", "--name", "e2e").strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [OPEN311, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/open311/v2"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/discovery.json", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield base, key
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    # The access log must never carry the form body or the key.
    assert key not in output
    assert "resident@example.org" not in output
    # One JSON line per request from the app (gunicorn's own access log is off), path only.
    access = [json.loads(line) for line in output.splitlines() if '"open311.access"' in line]
    assert len(access) >= 10
    assert all("?" not in line["path"] and line["request_id"] for line in access)


def test_post_then_read_back_identically_in_json_and_xml(gateway):
    base, key = gateway
    form = {
        "api_key": key,
        "service_code": "DEAD_ANIMAL",
        "lat": "41.7606",
        "long": "-88.3201",
        "address_string": "44 E Downer Pl, Aurora, IL",
        "description": "Dead raccoon in the street, by the curb",
        "attribute[ANIMAL]": "raccoon",
        "email": "resident@example.org",
        "phone": "630-555-0101",
        "channel": "phone",
    }
    created = requests.post(f"{base}/requests.json", data=form, timeout=10)
    assert created.status_code == 200, created.text
    request_id = created.json()[0]["service_request_id"]

    as_json = requests.get(f"{base}/requests/{request_id}.json", timeout=10)
    as_xml = requests.get(f"{base}/requests/{request_id}.xml", timeout=10)
    assert as_xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    record = as_json.json()[0]
    assert list(record) == list(REQUEST_FIELDS)
    assert spark_document(as_xml.content) == as_json.json()
    assert record["description"] == form["description"]
    assert record["address"] == form["address_string"]
    assert (record["lat"], record["long"]) == (41.7606, -88.3201)
    assert record["service_name"] == "Dead animal in the street"
    for body in (as_json.text, as_xml.text):
        assert "resident@example.org" not in body
        assert "630-555-0101" not in body

    # A key in the query string (GET ignores it) must stay out of the log as well.
    listed = requests.get(f"{base}/requests.xml", params={"api_key": key}, timeout=10)
    assert listed.headers["X-Request-Id"]
    ids = [r.findtext("service_request_id") for r in etree.fromstring(listed.content)]
    assert request_id in ids
    discovery = json.loads(requests.get(f"{base}/discovery.json", timeout=10).content)
    assert discovery["endpoints"][0]["url"] == base


def test_batch_service_token_resolves(gateway):
    base, key = gateway
    form = {
        "api_key": key,
        "service_code": "LEAD_LINE",
        "address_string": "1 Main St",
        "attribute[OWNER]": "owner",
    }
    receipt = requests.post(f"{base}/requests.json", data=form, timeout=10).json()[0]
    assert "service_request_id" not in receipt
    token = receipt["token"]
    looked_up = requests.get(f"{base}/tokens/{token}.json", timeout=10).json()[0]
    assert looked_up["token"] == token
    assert requests.get(f"{base}/requests/{looked_up['service_request_id']}.json", timeout=10).ok


def test_city_limits_loaded_while_serving(gateway, env):
    base, key = gateway
    loop = {"lat": "41.8781", "long": "-87.6298"}
    downtown = {"lat": "41.7606", "long": "-88.3201"}
    form = {"api_key": key, "service_code": "STREETLIGHT", "attribute[PROBLEM]": "out"}
    # No limits yet: accepted, and the gateway says why.
    assert requests.post(f"{base}/requests.json", data={**form, **loop}, timeout=10).ok
    check = requests.get(f"{base}/locations/validate.json", params=loop, timeout=10).json()
    assert (check["served"], check["boundary_loaded"]) == (True, False)

    limits = shared_path("data", "aurora-il-boundary.geojson")
    out = run(env, "boundary", "import", "--jurisdiction", "aurora-il.org", str(limits))
    assert "65 holes" in out

    # The running workers see the new limits at once (no restart).
    refused = requests.post(f"{base}/requests.json", data={**form, **loop}, timeout=10)
    assert refused.status_code == 400
    assert refused.json()[0]["description"] == (
        "The location is 48.1 km outside the city limits of Aurora, Illinois."
    )
    assert requests.post(f"{base}/requests.json", data={**form, **downtown}, timeout=10).ok
    outside = requests.get(f"{base}/locations/validate.json", params=loop, timeout=10).json()
    inside = requests.get(f"{base}/locations/validate.json", params=downtown, timeout=10).json()
    assert (outside["served"], outside["distance_m"] // 100) == (False, 481)
    assert inside["served"] is True
