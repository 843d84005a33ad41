"""PostgreSQL restarted under a running gateway: 503s while it is down, then recovery.

The machine's shared PostgreSQL serves every other test, so this one starts a private
PostgreSQL 15 cluster on a free port, stops it with ``pg_ctl stop -m immediate`` (as a crash
would) while ``open311 serve`` (gunicorn, two workers) and ``open311 worker`` run against it,
and starts it again on the same port. Neither gateway process is restarted.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml
from lxml import etree

from bench.integrity import half_written
from open311.simulators.department import create_simulator
from open311.simulators.server import Running
from tests.conftest import TEST_CATALOGUE
from tests.e2e.test_serve import OPEN311, free_port, run

PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: Bounds that keep a broken gateway from hanging the test; none is a timed assertion.
HTTP_TIMEOUT = 15
RETRIES = 200


@dataclass
class Cluster:
    """A private PostgreSQL cluster in a temporary directory (run as ``postgres`` if root)."""

    directory: Path
    port: int

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.directory / "data"), "-U", "postgres", "-A", "trust")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-o", options, "-l", log, "-w",
                  "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    directory = Path(tempfile.mkdtemp(prefix="open311-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    private = Cluster(directory, free_port())
    private.init()
    try:
        yield private
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # down after a failure
            private.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def department() -> Iterator[Running]:
    running = Running(create_simulator())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def gateway(cluster, department, tmp_path_factory) -> Iterator[dict[str, object]]:
    """``open311 serve`` and ``open311 worker`` against the private cluster."""
    catalogue = copy.deepcopy(TEST_CATALOGUE)
    catalogue["backends"] = {
        "streets": {
            "adapter": "department",
            "settings": {
                "base_url": department.url,
                "client_id": "gateway",
                "client_secret": "s3cret",
            },
        }
    }
    for service in catalogue["services"]:
        if service["service_code"] == "S0":
            service["backend"] = "streets"
    path = tmp_path_factory.mktemp("restart") / "catalogue.yaml"
    path.write_text(yaml.safe_dump(catalogue))
    env = {
        **os.environ,
        "OPEN311_DATABASE_URL": cluster.url,
        "OPEN311_ADAPTERS": "local,department",
        "OPEN311_RATE_LIMITS": "false",  # the storm is one key from one address
        "OPEN311_DISPATCH_POLL": "0.05",
        "OPEN311_DISPATCH_BACKOFF": "0.05",
        "OPEN311_DISPATCH_BACKOFF_MAX": "0.2",
        # A claim whose commit was cut by the crash is taken over when its lease runs out.
        "OPEN311_DISPATCH_LEASE": "15",
    }
    run(env, "db", "upgrade")
    run(env, "services", "import", str(path))
    key = run(env, "keys", "create", "--name", "e2e").strip().splitlines()[-1]
    port = free_port()
    # The processes' log is kept beside the catalogue: it tells why a failed run failed.
    worker_log = (path.parent / "worker.log").open("w")
    server = subprocess.Popen(
        [OPEN311, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=worker_log,
        stderr=worker_log,
    )
    worker = subprocess.Popen(
        [OPEN311, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=worker_log
    )
    base = f"http://127.0.0.1:{port}/open311/v2"
    try:
        for _ in range(RETRIES):
            try:
                requests.get(f"{base}/discovery.json", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield {
            "base": base,
            "key": key,
            "server": server,
            "worker": worker,
            "worker_log": path.parent / "worker.log",
        }
    finally:
        try:
            for process in (server, worker):
                process.terminate()
            for process in (server, worker):
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    raise
        finally:
            worker_log.close()


def post(base: str, key: str, description: str, fmt: str = "json") -> requests.Response:
    form = {"api_key": key, "service_code": "S0", "lat": "41.76", "long": "-88.32"}
    return requests.post(
        f"{base}/requests.{fmt}", data={**form, "description": description}, timeout=HTTP_TIMEOUT
    )


def wait_until(condition, what: str, retries: int = RETRIES) -> None:
    """Poll ``condition`` a bounded number of times (a safety limit, not a timed assertion)."""
    for _ in range(retries):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened")


def sim_records(department: Running) -> list[dict[str, str]]:
    records: list[dict[str, str]] = requests.get(f"{department.url}/_sim/records", timeout=5).json()
    return records


def delivered(department: Running) -> set[str]:
    return {r["external_ref"] for r in sim_records(department)}


def assert_unavailable(response: requests.Response, fmt: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    if fmt == "json":
        [error] = response.json()
        assert error["code"] == 503
        assert "temporarily unavailable" in error["description"]
    else:
        root = etree.fromstring(response.content)
        assert root.tag == "errors"
        assert root.findtext("error/code") == "503"
        assert "temporarily unavailable" in root.findtext("error/description")


def queue_states(url: str) -> dict[int, str]:
    """procrastinate's status of each delivery's queue job, by dispatch job id."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT (args->>'dispatch_job_id')::int, status::text "
                    "FROM procrastinate_jobs WHERE task_name = 'open311.deliver'"
                )
            )
            return dict(rows.all())
    finally:
        engine.dispose()


def test_postgres_restart_answers_503_then_recovers(gateway, cluster, department):
    base, key = gateway["base"], gateway["key"]
    first = post(base, key, "before the outage")
    assert first.status_code == 200, first.text
    wait_until(lambda: first.json()[0]["service_request_id"] in delivered(department), "delivery")

    # POSTs keep coming while the database dies: each answer is a 200 or a 503, never a hang.
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def storm() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                response = post(base, key, f"storm {n}")
            except requests.RequestException:  # no answer at all: recorded, and fails below
                answers.append((0, None))
                continue
            stored = response.json()[0].get("service_request_id") if response.ok else None
            answers.append((response.status_code, stored))

    storms = [threading.Thread(target=storm) for _ in range(3)]
    for thread in storms:
        thread.start()
    wait_until(lambda: len(answers) >= 6, "the storm")
    cluster.stop("immediate")
    down = len(answers)
    wait_until(lambda: len(answers) >= down + 6, "answers while the database is down")
    stop.set()
    for thread in storms:
        thread.join(timeout=HTTP_TIMEOUT * 2)
    assert {status for status, _ in answers} <= {200, 503}

    # Every resource that reads the database, in both formats, on both server processes.
    for _ in range(4):
        for fmt in ("json", "xml"):
            assert_unavailable(requests.get(f"{base}/requests.{fmt}", timeout=HTTP_TIMEOUT), fmt)
            assert_unavailable(requests.get(f"{base}/services.{fmt}", timeout=HTTP_TIMEOUT), fmt)
            assert_unavailable(requests.get(f"{base}/requests/1.{fmt}", timeout=HTTP_TIMEOUT), fmt)
            assert_unavailable(post(base, key, "while down", fmt), fmt)
    assert gateway["server"].poll() is None
    assert gateway["worker"].poll() is None

    cluster.start()

    def serving() -> bool:
        return all(
            requests.get(f"{base}/services.json", timeout=HTTP_TIMEOUT).status_code == 200
            for _ in range(8)  # every pooled connection of both server processes
        )

    wait_until(serving, "recovery of the server")
    assert half_written(cluster.url) == {}
    stored = {request_id for status, request_id in answers if status == 200}
    for request_id in stored:
        found = requests.get(f"{base}/requests/{request_id}.json", timeout=HTTP_TIMEOUT)
        assert found.status_code == 200, found.text

    after = post(base, key, "after the outage")
    assert after.status_code == 200, after.text
    request_id = after.json()[0]["service_request_id"]
    again = requests.get(f"{base}/requests/{request_id}.json", timeout=HTTP_TIMEOUT)
    assert again.json()[0]["description"] == "after the outage"

    # The same worker process delivers what was accepted, and its queue listener is back:
    # procrastinate itself runs the new request's queue job, not only the sweep.
    accepted = {first.json()[0]["service_request_id"], request_id} | stored
    wait_until(lambda: accepted <= delivered(department), "delivery after the outage", 600)
    refs = [r["external_ref"] for r in sim_records(department)]
    assert len(refs) == len(set(refs))  # exactly once, whatever the outage cut short
    wait_until(
        lambda: queue_states(cluster.url).get(max(queue_states(cluster.url))) == "succeeded",
        "procrastinate running the new queue job",
    )
    assert gateway["worker"].poll() is None
    assert gateway["server"].poll() is None


def job_of(url: str, request_id: str) -> tuple[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT j.state, j.attempts FROM dispatch_jobs j JOIN service_requests r "
                    "ON r.id = j.request_pk WHERE r.service_request_id = :id"
                ),
                {"id": request_id},
            ).one()
            return row[0], row[1]
    finally:
        engine.dispose()


def test_an_answer_received_while_the_database_is_down_is_recorded_after(
    gateway, cluster, department
):
    # The department creates the record, then answers a second later: by then the
    # database is gone. The worker keeps the answer and writes it when the database is
    # back, with the same attempt (no second delivery, no wait for the lease to run out).
    base, key = gateway["base"], gateway["key"]
    requests.post(
        f"{department.url}/_sim/faults",
        json={"faults": [{"mode": "slow_after", "delay": 1.0}]},
        timeout=5,
    ).raise_for_status()
    created = post(base, key, "answered during the outage")
    assert created.status_code == 200, created.text
    request_id = created.json()[0]["service_request_id"]
    wait_until(lambda: request_id in delivered(department), "the department's record")
    cluster.stop("immediate")
    log = gateway["worker_log"]
    wait_until(lambda: "could not record the outcome" in log.read_text(), "the kept outcome")
    cluster.start()
    wait_until(lambda: job_of(cluster.url, request_id)[0] == "delivered", "the outcome written")
    assert job_of(cluster.url, request_id) == ("delivered", 1)
    assert [r["external_ref"] for r in sim_records(department)].count(request_id) == 1
    assert gateway["worker"].poll() is None


def test_a_database_that_never_answers_is_a_503_not_a_hang():
    # A listening socket that nobody accepts from: the TCP handshake succeeds (the kernel's
    # backlog), then silence, as with a frozen server. libpq alone would wait forever.
    from open311 import create_app

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        app = create_app({"database_url": f"postgresql://postgres@127.0.0.1:{port}/gateway"})
        answers: list[tuple[int, bytes]] = []

        def ask() -> None:
            response = app.test_client().get("/open311/v2/services.json")
            answers.append((response.status_code, response.data))

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        asking.join(timeout=120)  # a bound on a hang, not a timed assertion
        assert answers, "the gateway still waits for a database that never answers"
        [(status, body)] = answers
        assert status == 503
        assert json.loads(body)[0]["code"] == 503
