"""Burst benchmark: N requests across every adapter, 20% of vendor calls failing at random.

Run by hand (not in CI), from the checkout with the test extras installed::

    .venv/bin/python bench/burst.py --requests 1000 --workers 1 2
    .venv/bin/python bench/burst.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

For each worker count it starts the simulators (department, CitySourced), an SMTP server on
loopback and a neighbouring gateway, queues the burst through ``POST requests`` with
delivery left to the workers, starts that many ``open311 worker`` processes, and reports
deliveries per second until nothing is pending. It then checks every request against the
simulators' own records: one record each, none twice.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask_migrate import upgrade

from open311 import create_app, dispatch
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.keys import create_key
from open311.models import DispatchJob
from open311.simulators import citysourced, department
from open311.simulators.server import Running

OPEN311 = str(Path(sys.executable).with_name("open311"))
ADAPTERS = "local,department,citysourced,email,open311"


def faults(rate: float) -> list[dict[str, Any]]:
    """Half the failures refused outright, half created with the answer lost."""
    return [
        {"mode": "status", "status": 503, "remaining": None, "probability": rate / 2},
        {"mode": "drop_after", "remaining": None, "probability": rate / 2},
    ]


CATALOGUE: dict[str, Any] = {
    "jurisdictions": [{"jurisdiction_id": "aurora-il.org", "name": "City of Aurora"}],
    "services": [
        {"service_code": code, "service_name": name, "backend": backend}
        for code, name, backend in (
            ("POTHOLE", "Pothole", "streets"),
            ("GRAFFITI", "Graffiti", "vendor"),
            ("TREE", "Tree down", "forestry"),
            ("BORDER", "Border street", "naperville"),
            ("INFO", "Question", "local"),
        )
    ],
}


class Mailbox:
    """An SMTP sink that refuses a share of messages with a temporary error."""

    def __init__(self, rate: float) -> None:
        self.ids: list[str] = []
        self.rate = rate
        self.rng = random.Random(311)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.rng.random() < self.rate:
            return "451 4.3.0 Try again later"
        for line in envelope.content.split(b"\r\n"):
            if line.startswith(b"X-Aurora311-Request-Id:"):
                self.ids.append(line.split(b":", 1)[1].strip().decode())
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database(postgres: str | None, directory: str, name: str) -> Any:
    if not postgres:
        yield f"sqlite:///{directory}/{name}.sqlite3"
        return
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    db_name = f"open311_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    try:
        yield admin.url.set(database=db_name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def run(count: int, workers: int, postgres: str | None, rate: float) -> dict[str, Any]:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as directory:
        url = stack.enter_context(database(postgres, directory, "gateway"))
        dept = Running(department.create_simulator())
        vendor = Running(citysourced.create_simulator())
        stack.callback(dept.stop)
        stack.callback(vendor.stop)
        mailbox = Mailbox(rate)
        smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
        smtp.start()
        stack.callback(smtp.stop)
        neighbour = create_app(
            {"database_url": f"sqlite:///{directory}/neighbour.sqlite3", "rate_limits": "false"}
        )
        with neighbour.app_context():
            upgrade()
            import_catalogue(
                copy.deepcopy(
                    CATALOGUE
                    | {"services": [{"service_code": "BORDER", "service_name": "Border street"}]}
                )
            )
            neighbour_key = create_key("bench")[1]
        served = Running(neighbour)
        stack.callback(served.stop)

        app = create_app(
            {
                "database_url": url,
                "adapters": ADAPTERS,
                "dispatch": "manual",
                "rate_limits": "false",
            }
        )
        with app.app_context():
            upgrade()
            catalogue = copy.deepcopy(CATALOGUE)
            catalogue["backends"] = {
                "streets": {
                    "adapter": "department",
                    "settings": {
                        "base_url": dept.url,
                        "client_id": "gateway",
                        "client_secret": "s3cret",
                        "read_timeout": 5.0,
                    },
                },
                "vendor": {
                    "adapter": "citysourced",
                    "settings": {
                        "base_url": vendor.url,
                        "api_key": "sim-aurora-key-01",
                        "read_timeout": 5.0,
                        "request_types": {"GRAFFITI": {"name": "Graffiti", "id": 12}},
                    },
                },
                "forestry": {
                    "adapter": "email",
                    "settings": {
                        "host": "127.0.0.1",
                        "port": smtp.port,
                        "sender": "gw@311.example",
                        "to": ["forestry@dept.example"],
                        "domain": "311.example",
                    },
                },
                "naperville": {
                    "adapter": "open311",
                    "settings": {
                        "base_url": f"{served.url}/open311/v2",
                        "api_key": neighbour_key,
                        "service_codes": {},
                        "read_timeout": 5.0,
                    },
                },
            }
            import_catalogue(catalogue)
            key = create_key("bench")[1]
            client = app.test_client()
            codes = [s["service_code"] for s in CATALOGUE["services"]]
            started = time.perf_counter()
            for n in range(count):
                response = client.post(
                    "/open311/v2/requests.json",
                    data={
                        "api_key": key,
                        "service_code": codes[n % len(codes)],
                        "lat": "41.76",
                        "long": "-88.32",
                        "description": f"burst {n}",
                    },
                )
                assert response.status_code == 200, response.data
            intake = time.perf_counter() - started
            db.session.remove()
        requests.post(
            f"{dept.url}/_sim/faults", json={"faults": faults(rate), "seed": 1}, timeout=5
        )
        requests.post(
            f"{vendor.url}/_sim/faults",
            json={"faults": faults(rate), "seed": 2, "dedupe": False},
            timeout=5,
        )

        env = {
            **os.environ,
            "OPEN311_DATABASE_URL": url,
            "OPEN311_ADAPTERS": ADAPTERS,
            "OPEN311_DISPATCH_BACKOFF": "0.05",
            "OPEN311_DISPATCH_BACKOFF_MAX": "0.5",
            "OPEN311_DISPATCH_MAX_ATTEMPTS": "100",
        }
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [OPEN311, "worker", "--poll", "0.02"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        with app.app_context():
            while dispatch.pending_count():
                db.session.remove()
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
            jobs = list(db.session.scalars(sa.select(DispatchJob)))
            states = Counter(j.state for j in jobs)
            retried = sum(j.attempts > 1 for j in jobs)
            expected = {
                b: sorted(j.request.service_request_id for j in jobs if j.backend == b)
                for b in ("streets", "vendor", "forestry")
            }
            db.session.remove()
        dept_refs = sorted(
            r["external_ref"] for r in requests.get(f"{dept.url}/_sim/records", timeout=5).json()
        )
        vendor_refs = sorted(
            r["ExternalRequestId"]
            for r in requests.get(f"{vendor.url}/_sim/records", timeout=5).json()
        )
        exactly_once = (
            dept_refs == expected["streets"]
            and vendor_refs == expected["vendor"]
            and sorted(mailbox.ids) == expected["forestry"]
        )
        return {
            "workers": workers,
            "requests": count,
            "intake_per_s": count / intake,
            "seconds": elapsed,
            "deliveries_per_s": count / elapsed,
            "states": dict(states),
            "retried": retried,
            "exactly_once": exactly_once,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--failure-rate", type=float, default=0.2, help="of vendor calls")
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (else SQLite)")
    args = parser.parse_args()
    for workers in args.workers:
        result = run(args.requests, workers, args.postgres, args.failure_rate)
        print(
            f"{result['workers']} worker(s): {result['requests']} requests, "
            f"intake {result['intake_per_s']:.0f}/s, delivered in {result['seconds']:.1f}s = "
            f"{result['deliveries_per_s']:.1f} deliveries/s; states {result['states']}, "
            f"{result['retried']} retried, exactly once: {result['exactly_once']}"
        )


if __name__ == "__main__":
    main()
