"""The embedded default: ``open311 serve`` on SQLite delivers in process, no worker needed."""

from __future__ import annotations

import os
import subprocess
import time

import requests
import yaml

from open311.simulators.department import create_simulator
from open311.simulators.server import Running
from tests.conftest import TEST_CATALOGUE
from tests.e2e.test_serve import OPEN311, free_port, run


def test_serve_on_sqlite_delivers_to_the_department(tmp_path):
    department = Running(create_simulator())
    catalogue = {
        **TEST_CATALOGUE,
        "backends": {
            "streets": {
                "adapter": "department",
                "settings": {
                    "base_url": department.url,
                    "client_id": "gateway",
                    "client_secret": "s3cret",
                },
            }
        },
    }
    catalogue["services"] = [
        dict(s, backend="streets") if s["service_code"] == "S0" else s
        for s in TEST_CATALOGUE["services"]
    ]
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(catalogue))
    env = {
        **os.environ,
        "OPEN311_DATABASE_URL": f"sqlite:///{tmp_path}/gateway.sqlite3",
        "OPEN311_ADAPTERS": "local,department",
        "OPEN311_DISPATCH_POLL": "0.05",
    }
    run(env, "db", "upgrade")
    run(env, "services", "import", str(path))
    key = run(env, "keys", "create", "--name", "e2e").strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [OPEN311, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/open311/v2"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/discovery.json", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        ids = []
        for n in range(5):
            created = requests.post(
                f"{base}/requests.json",
                timeout=10,
                data={
                    "api_key": key,
                    "service_code": "S0",
                    "lat": "41.7",
                    "long": "-88.3",
                    "description": f"n{n}",
                },
            )
            assert created.status_code == 200, created.text
            ids.append(created.json()[0]["service_request_id"])
        deadline = time.monotonic() + 30  # a safety limit, not a timed assertion
        while len(requests.get(f"{department.url}/_sim/records", timeout=5).json()) < 5:
            assert time.monotonic() < deadline, "the in-process dispatcher delivered nothing"
            time.sleep(0.05)
        time.sleep(0.3)  # two server processes share the work: give a duplicate time to show
        records = requests.get(f"{department.url}/_sim/records", timeout=5).json()
        assert sorted(r["external_ref"] for r in records) == sorted(ids)
        log = requests.get(f"{department.url}/_sim/requests", timeout=5).json()
        assert [e["outcome"] for e in log if e["operation"] == "create"] == ["created"] * 5
    finally:
        server.terminate()
        server.wait(timeout=20)
        department.stop()
