"""Load benchmark: a storm of mixed traffic against the served gateway on PostgreSQL/PostGIS.

Run by hand (not in CI), from the checkout with the bench extras installed::

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python -m bench.load --duration 5m           # --duration 30s for a quick run

It creates a throwaway database on the local server (``--postgres``), starts ``open311
simulate department`` and ``open311 simulate citysourced``, ``open311 serve`` (gunicorn, two
workers) and one ``open311 worker``, all as the README says, with a catalogue routing
services to the simulators and to the 311 center. locust's users then send 10% ``POST
requests.json`` and 90% GETs (service list, pages of ``requests.json``, single requests,
the GeoJSON feed of the last 30 seconds' changes); the baseline is the same users, same duration, asking for
``discovery.json``, which reads no database. After the storm it waits until every delivery
is done and checks each POST answered 200 against the simulators' own records: delivered,
and exactly once.
"""

from __future__ import annotations

# locust patches the standard library with gevent: it must come first.
from locust import HttpUser, constant, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gevent
import requests
import sqlalchemy as sa

from bench.burst import database, free_port
from bench.integrity import half_written

OPEN311 = str(Path(sys.executable).with_name("open311"))
ADAPTERS = "local,department,citysourced"
#: service code -> back end; the 311 center's services are delivered inside the POST.
ROUTES = {"POTHOLE": "streets", "GRAFFITI": "vendor", "INFO": "local"}


def catalogue(department_url: str, vendor_url: str) -> dict[str, Any]:
    """Three services: one per simulator and one kept by the 311 center."""
    return {
        "backends": {
            "streets": {
                "adapter": "department",
                "settings": {
                    "base_url": department_url,
                    "client_id": "gateway",
                    "client_secret": "s3cret",
                },
            },
            "vendor": {
                "adapter": "citysourced",
                "settings": {
                    "base_url": vendor_url,
                    "api_key": "sim-aurora-key-01",
                    "request_types": {"GRAFFITI": {"name": "Graffiti", "id": 12}},
                },
            },
        },
        "jurisdictions": [{"jurisdiction_id": "aurora-il.org", "name": "City of Aurora"}],
        "services": [
            {"service_code": code, "service_name": code.title(), "backend": backend}
            for code, backend in ROUTES.items()
        ],
    }


@dataclass
class Gateway:
    """The served gateway, its worker and the simulators, each in its own process group."""

    directory: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    key: str = ""
    department: str = ""
    vendor: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/open311/v2"

    def command(self, *args: str) -> str:
        """Run one ``open311`` command to completion; its standard output."""
        result = subprocess.run(
            [OPEN311, *args], env=self.env, capture_output=True, text=True, check=True
        )
        return result.stdout

    def spawn(self, name: str, *args: str) -> None:
        """Start a long-running ``open311`` command in a new process group."""
        log = (self.directory / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [OPEN311, *args], env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()

    def start_server(self) -> None:
        """``open311 serve`` with two gunicorn workers; returns once it answers."""
        self.spawn("serve", "serve", "--port", str(self.port), "--workers", "2")
        wait_for(f"{self.base}/discovery.json")

    def start_worker(self) -> None:
        """One ``open311 worker``."""
        self.spawn("worker", "worker")

    def kill(self, name: str) -> None:
        """SIGKILL a process group (gunicorn's master and its workers die together)."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """Stop every process still running."""
        for process in self.processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            process.wait(timeout=60)
        self.processes.clear()

    def records(self) -> dict[str, list[str]]:
        """The request ids each simulator holds, one entry per record it made."""
        department = requests.get(f"{self.department}/_sim/records", timeout=30).json()
        vendor = requests.get(f"{self.vendor}/_sim/records", timeout=30).json()
        return {
            "streets": [r["external_ref"] for r in department],
            "vendor": [r["ExternalRequestId"] for r in vendor],
        }


def wait_for(url: str, attempts: int = 300) -> None:
    """Poll ``url`` until it answers at all."""
    for _ in range(attempts):
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


@contextmanager
def gateway(
    postgres: str, directory: Path, settings: dict[str, str] | None = None
) -> Iterator[Gateway]:
    """A migrated throwaway database, the simulators, the server and one worker.

    ``settings`` are extra ``OPEN311_*`` variables of the gateway's processes.
    """
    with ExitStack() as stack:
        url = stack.enter_context(database(postgres, str(directory), "gateway"))
        env = {
            **os.environ,
            "OPEN311_DATABASE_URL": url,
            "OPEN311_ADAPTERS": ADAPTERS,
            # One key and one address send everything: the storm measures the gateway's
            # work, not the limiter's refusals (bench/ratelimits.py measures those).
            "OPEN311_RATE_LIMITS": "false",
        }
        env.update(settings or {})
        gw = Gateway(directory, env)
        stack.callback(gw.stop)
        ports = {"department": free_port(), "citysourced": free_port()}
        for kind, port in ports.items():
            gw.spawn(kind, "simulate", kind, "--port", str(port))
            wait_for(f"http://127.0.0.1:{port}/_sim/records")
        gw.department = f"http://127.0.0.1:{ports['department']}"
        gw.vendor = f"http://127.0.0.1:{ports['citysourced']}"
        path = directory / "catalogue.json"
        path.write_text(json.dumps(catalogue(gw.department, gw.vendor)))
        gw.command("db", "upgrade")
        gw.command("services", "import", str(path))
        gw.key = gw.command("keys", "create", "--name", "load").strip().splitlines()[-1]
        gw.start_server()
        gw.start_worker()
        yield gw


@dataclass
class Outcome:
    """What every POST of a storm was answered: its status (0: no answer) and id."""

    posts: list[tuple[int, str | None, str]] = field(default_factory=list)

    def accepted(self) -> dict[str, str]:
        """Request id -> service code of each POST answered 200."""
        return {rid: code for status, rid, code in self.posts if status == 200 and rid}


def user_class(gw: Gateway, outcome: Outcome, baseline: bool) -> type[HttpUser]:
    """A locust user for ``gw``: the mixed storm, or discovery only for the baseline."""
    known: list[str] = []

    class Resident(HttpUser):
        host = gw.base
        wait_time = constant(0)

        def get(self, path: str, name: str) -> None:
            with self.client.get(path, name=name, catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"status {response.status_code}")

        @task(10)
        def post(self) -> None:
            if baseline:
                return self.get("/discovery.json", "discovery")
            code = random.choice(list(ROUTES))
            form = {"api_key": gw.key, "service_code": code, "lat": "41.76", "long": "-88.32"}
            form["description"] = f"load {random.getrandbits(48):x}"
            with self.client.post(
                "/requests.json", data=form, name="POST requests", catch_response=True
            ) as response:
                rid = None
                if response.status_code == 200:
                    rid = response.json()[0]["service_request_id"]
                    known.append(rid)
                else:
                    response.failure(f"status {response.status_code}")
                outcome.posts.append((response.status_code, rid, code))
            return None

        @task(20)
        def services(self) -> None:
            self.get("/discovery.json" if baseline else "/services.json", "services")

        @task(25)
        def page(self) -> None:
            page = random.randint(1, 3)
            path = f"/requests.json?page_size=50&page={page}"
            self.get("/discovery.json" if baseline else path, "requests page")

        @task(25)
        def single(self) -> None:
            if baseline or not known:
                return self.get("/discovery.json", "discovery")
            return self.get(f"/requests/{random.choice(known)}.json", "request")

        @task(20)
        def feed(self) -> None:
            # A map refreshing itself: the last 30 seconds' changes. The unfiltered feed streams
            # the whole table, which grows all through the storm and would swamp the mix.
            since = datetime.now(UTC) - timedelta(seconds=30)
            path = f"/requests.geojson?updated_after={since:%Y-%m-%dT%H:%M:%SZ}"
            self.get("/discovery.json" if baseline else path, "feed")

    return Resident


def storm(
    gw: Gateway,
    users: int,
    seconds: float,
    *,
    baseline: bool = False,
    outcome: Outcome | None = None,
    during: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Run locust's users for ``seconds``; ``during`` runs alongside, in its own greenlet."""
    outcome = outcome if outcome is not None else Outcome()
    env = Environment(user_classes=[user_class(gw, outcome, baseline)])
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    side = gevent.spawn(during) if during is not None else None
    gevent.spawn_later(seconds, runner.quit)
    started = time.perf_counter()
    runner.greenlet.join()
    elapsed = time.perf_counter() - started
    if side is not None:
        side.join()  # never leave a crash half-done behind the storm
    total = env.stats.total
    endpoints = {
        name: (
            entry.num_requests,
            entry.get_response_time_percentile(0.5),
            entry.get_response_time_percentile(0.99),
        )
        for (name, _method), entry in env.stats.entries.items()
    }
    return {
        "endpoints": endpoints,  # type: ignore[dict-item]
        "requests": total.num_requests,
        "per_s": total.num_requests / elapsed,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p99_ms": total.get_response_time_percentile(0.99),
        "errors": total.num_failures,
    }


def drained(gw: Gateway, limit: float = 600.0) -> float:
    """Wait until no delivery is pending; the seconds it took."""
    engine = sa.create_engine(gw.env["OPEN311_DATABASE_URL"])
    started = time.perf_counter()
    pending = sa.text("SELECT count(*) FROM dispatch_jobs WHERE state IN ('queued', 'retrying')")
    try:
        while True:
            with engine.connect() as connection:
                if not connection.scalar(pending):
                    return time.perf_counter() - started
            if time.perf_counter() - started > limit:
                raise RuntimeError("deliveries still pending after the limit")
            time.sleep(0.5)
    finally:
        engine.dispose()


def delivery_check(gw: Gateway, accepted: dict[str, str]) -> list[str]:
    """Problems with exactly-once delivery of ``accepted`` (id -> service code); [] if none.

    Every request answered 200 is delivered, each simulator record is made once, and
    every record is of a request the gateway stored (a POST whose answer was lost may
    still have been stored and delivered, once).
    """
    problems = []
    engine = sa.create_engine(gw.env["OPEN311_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT r.service_request_id, j.backend, j.state FROM dispatch_jobs j "
                    "JOIN service_requests r ON r.id = j.request_pk"
                )
            ).all()
    finally:
        engine.dispose()
    jobs = {rid: (backend, state) for rid, backend, state in rows}
    records = gw.records()
    for rid, code in accepted.items():
        backend = ROUTES[code]
        if rid not in jobs:
            problems.append(f"request {rid} was answered 200 but is not stored")
        elif jobs[rid][1] != "delivered":
            problems.append(f"request {rid} is {jobs[rid][1]}, not delivered")
        elif backend != "local" and rid not in records[backend]:
            problems.append(f"request {rid} is not in the {backend} simulator's records")
    for backend, refs in records.items():
        for rid, count in Counter(refs).items():
            if count > 1:
                problems.append(f"request {rid} was delivered {count} times to {backend}")
            if jobs.get(rid, (None,))[0] != backend:
                problems.append(f"the {backend} simulator holds {rid}, not a job of it")
    problems.extend(
        f"{kind}: {ids[:10]}" for kind, ids in half_written(gw.env["OPEN311_DATABASE_URL"]).items()
    )
    return problems


def parse_duration(text: str) -> float:
    """``30s``, ``5m`` or a number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def line(label: str, figures: dict[str, float], base: dict[str, float]) -> str:
    return (
        f"{label:9} {figures['requests']:8.0f} requests  {figures['per_s']:7.1f}/s "
        f"({figures['per_s'] / base['per_s']:.2f}x)  p50 {figures['p50_ms']:5.0f} ms "
        f"({figures['p50_ms'] / max(base['p50_ms'], 1):.1f}x)  p99 {figures['p99_ms']:5.0f} ms "
        f"({figures['p99_ms'] / max(base['p99_ms'], 1):.1f}x)  errors {figures['errors']:.0f}"
    )


def storm_parser(description: str, duration: float) -> argparse.ArgumentParser:
    """The options every storm shares: how long, how many users, which PostgreSQL."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--duration", type=parse_duration, default=duration, help="e.g. 30s, 5m")
    parser.add_argument("--users", type=int, default=20, help="concurrent locust users")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "OPEN311_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL of a PostgreSQL server with PostGIS",
    )
    return parser


def main() -> None:
    args = storm_parser(__doc__.splitlines()[0], duration=300.0).parse_args()
    with tempfile.TemporaryDirectory() as directory, gateway(args.postgres, Path(directory)) as gw:
        base = storm(gw, args.users, args.duration, baseline=True)
        outcome = Outcome()
        mixed = storm(gw, args.users, args.duration, outcome=outcome)
        drain = drained(gw)
        problems = delivery_check(gw, outcome.accepted())
    print(f"{args.users} users, {args.duration:.0f}s each")
    print(line("baseline", base, base))
    print(line("storm", mixed, base))
    # Which reads cost what: the storm's ratio is their mix, so name the expensive one.
    for name, (count, p50, p99) in sorted(mixed["endpoints"].items()):  # type: ignore[union-attr]
        print(f"  {name:15} {count:8d} requests  p50 {p50:5.0f} ms  p99 {p99:5.0f} ms")
    statuses = Counter(status for status, _, _ in outcome.posts)
    print(f"POSTs: {dict(statuses)}; drained {drain:.1f}s after the storm")
    print(f"exactly once: {not problems}")
    for problem in problems[:20]:
        print(f"  {problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
