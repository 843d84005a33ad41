"""Simulators as real HTTP servers, and catalogues that route services to them."""

from __future__ import annotations

import copy
import email
import random
import time
from collections.abc import Iterator
from email import policy
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask_migrate import upgrade

from open311 import create_app, dispatch
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.keys import create_key
from open311.models import DispatchJob
from open311.simulators.citysourced import create_simulator as citysourced_app
from open311.simulators.department import create_simulator as department_app
from open311.simulators.server import Running
from tests.conftest import TEST_CATALOGUE
from tests.e2e.test_serve import free_port

B = "/open311/v2"


class Simulator:
    """A running simulator with its control plane."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.url = running.url

    def faults(self, *faults: dict[str, Any], seed: int | None = None, **switches: Any) -> None:
        body: dict[str, Any] = {"faults": list(faults), **switches}
        if seed is not None:
            body["seed"] = seed
        requests.post(f"{self.url}/_sim/faults", json=body, timeout=5).raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_sim/requests", timeout=5).json()

    def records(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_sim/records", timeout=5).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def department_server() -> Iterator[Simulator]:
    running = Running(department_app())
    yield Simulator(running)
    running.stop()


@pytest.fixture
def department(department_server: Simulator) -> Iterator[Simulator]:
    """The department simulator, emptied and without faults for each test."""
    department_server.reset()
    yield department_server
    department_server.reset()


class Mailbox:
    """An aiosmtpd handler that keeps messages and answers scripted reply codes."""

    def __init__(self):
        self.messages = []
        self.replies = []  # codes for the next DATA commands, e.g. "451 try later"
        self.hang_after_storing = 0.0
        self.failure_rate = 0.0
        self.rng = random.Random(311)

    async def handle_DATA(self, server, session, envelope):
        if self.replies:
            return self.replies.pop(0)
        if self.failure_rate and self.rng.random() < self.failure_rate:
            return "451 4.3.0 Try again later"
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default))
        )
        if self.hang_after_storing:
            delay, self.hang_after_storing = self.hang_after_storing, 0.0
            time.sleep(delay)  # block the server past the client's timeout
        return "250 Message accepted for delivery"


class Server:
    """The SMTP server on one loopback port, which can be stopped and started again."""

    def __init__(self, handler):
        self.handler, self.port = handler, free_port()
        self.controller = None
        self.start()

    def start(self):
        # An aiosmtpd controller cannot be restarted: a fresh one takes over the port.
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def mailbox():
    handler = Mailbox()
    server = Server(handler)
    yield handler, server
    server.stop()


@pytest.fixture(scope="session")
def neighbour(tmp_path_factory):
    """Naperville's gateway: the same software, its own database, served over HTTP."""
    path = tmp_path_factory.mktemp("neighbour") / "naperville.sqlite3"
    other = create_app({"database_url": f"sqlite:///{path}"})
    with other.app_context():
        upgrade()
        import_catalogue(copy.deepcopy(TEST_CATALOGUE))
        key = create_key("aurora gateway")[1]
    running = Running(other)
    yield other, f"{running.url}/open311/v2", key
    running.stop()


@pytest.fixture(scope="session")
def citysourced_server() -> Iterator[Simulator]:
    running = Running(citysourced_app())
    yield Simulator(running)
    running.stop()


@pytest.fixture
def citysourced(citysourced_server: Simulator) -> Iterator[Simulator]:
    """The CitySourced-like simulator, emptied and without faults for each test."""
    citysourced_server.reset()
    yield citysourced_server
    citysourced_server.reset()


def citysourced_backend(url: str, **settings: Any) -> dict[str, Any]:
    values = {
        "base_url": url,
        "api_key": "sim-aurora-key-01",
        "connect_timeout": 1.0,
        "read_timeout": 0.5,
        "request_types": {"S0": {"name": "Pothole", "id": 50}, "SB": {"name": "Lead", "id": 7}},
    }
    values.update(settings)
    return {"adapter": "citysourced", "settings": values}


@pytest.fixture
def vendor_routed(app: Any, fast_retries: None, citysourced: Simulator) -> dict[str, Any]:
    """The test catalogue with S0 and SB routed to CitySourced."""
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"vendor": citysourced_backend(citysourced.url)}
    for service in data["services"]:
        if service["service_code"] in ("S0", "SB"):
            service["backend"] = "vendor"
    import_catalogue(copy.deepcopy(data))
    return data


@pytest.fixture
def fast_retries(app: Any, set_setting: Any) -> None:
    """Backoff in milliseconds, so that retry tests run in a blink; fresh adapters."""
    app.extensions["open311"]["backends"].clear()
    set_setting(
        adapters=("local", "department", "citysourced"),
        dispatch_backoff=0.01,
        dispatch_backoff_max=0.05,
        dispatch_max_attempts=5,
        dispatch="manual",
    )


def department_backend(url: str, **settings: Any) -> dict[str, Any]:
    values = {
        "base_url": url,
        "client_id": "gateway",
        "client_secret": "s3cret",
        "connect_timeout": 1.0,
        "read_timeout": 0.5,
    }
    values.update(settings)
    return {"adapter": "department", "settings": values}


@pytest.fixture
def routed(app: Any, fast_retries: None, department: Simulator) -> dict[str, Any]:
    """The test catalogue with S0 and SB routed to the department, S1 in house."""
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"streets": department_backend(department.url)}
    for service in data["services"]:
        if service["service_code"] in ("S0", "SB"):
            service["backend"] = "streets"
    import_catalogue(copy.deepcopy(data))
    return data


def post(client: Any, api_key: str, code: str = "S0", **fields: Any) -> Any:
    data = {"api_key": api_key, "service_code": code, "lat": "41.76", "long": "-88.32"}
    data.update(fields)
    response = client.post(f"{B}/requests.json", data=data)
    assert response.status_code == 200, response.data
    return response.get_json()[0]


def jobs() -> list[DispatchJob]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(DispatchJob).order_by(DispatchJob.id)))


def settle(limit: float = 30.0) -> None:
    """Work until nothing is pending (a safety limit, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while dispatch.pending_count():
        if dispatch.work_once() is None:
            time.sleep(0.005)
        assert time.monotonic() < deadline, [(j.id, j.state, j.last_error) for j in jobs()]
