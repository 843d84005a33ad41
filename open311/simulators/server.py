"""Serving a simulator in a thread, and the fault switches they share."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.serving import BaseWSGIServer, make_server

#: Fault modes understood by every simulator (docs/vendors.md §6).
MODES = (
    "status",  # answer ``status`` (500/502/503/504/429...) without acting; optional HTML
    "slow_before",  # sleep ``delay`` seconds, then answer 503 without acting
    "slow_after",  # act, then sleep ``delay`` seconds before answering
    "drop_after",  # act, then answer a truncated body (the response is lost)
    "malformed",  # answer 200 with a truncated document, without acting
    "html",  # answer 200 with an HTML error page, without acting
    "bom",  # act and answer normally, with a byte-order mark in front
    "auth",  # refuse the credentials
    "expire_token",  # forget every issued token first (department only)
    "error_message",  # HTTP 200 with an error message (CitySourced only)
    "shuffle",  # act and answer with elements in random order (CitySourced only)
)


@dataclass
class Fault:
    """One switch: applies to calls of ``operation`` while ``remaining`` lasts, or at random."""

    operation: str = "create"
    mode: str = "status"
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    remaining: int | None = 1
    probability: float = 1.0
    message: str = "Internal failure"

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Fault:
        """Build a fault from its JSON form; unknown keys or modes are an error."""
        fault = cls(**raw)
        if fault.mode not in MODES:
            raise ValueError(f"unknown fault mode {fault.mode!r}")
        return fault


@dataclass
class FaultBoard:
    """The active faults of a simulator; thread-safe, consumed as calls arrive."""

    faults: list[Fault] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, faults: list[Fault], seed: int | None = None) -> None:
        """Replace the faults (and reseed the random ones for repeatable runs)."""
        with self.lock:
            self.faults = faults
            if seed is not None:
                self.rng.seed(seed)

    def draw(self, operation: str) -> Fault | None:
        """The fault that applies to this call, if any (using it up if counted)."""
        with self.lock:
            for fault in self.faults:
                if fault.operation not in (operation, "any"):
                    continue
                if fault.remaining is not None and fault.remaining <= 0:
                    continue
                if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None


def pause(seconds: float) -> None:
    """Sleep inside a request handler (a named function so tests can read the intent)."""
    time.sleep(seconds)


class Running:
    """A simulator served on loopback in a daemon thread; ``url`` is its base address."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind at once (port 0 picks a free port) and start serving."""
        # One line per call would drown test output; the simulators keep their own log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (later calls are refused)."""
        self.server.shutdown()
        self.server.server_close()


def add_control_plane(app: Flask, state: Any, records: Callable[[], list[Any]]) -> None:
    """Register the control endpoints every simulator shares.

    ``GET /_sim/requests`` is the log of calls received, ``GET /_sim/records`` what the back
    end holds now (``records`` is called under ``state.lock``), and ``POST /_sim/reset``
    forgets everything. Tests check delivery against these, not against the gateway.
    """

    @app.get("/_sim/requests")
    def log() -> Response:
        with state.lock:
            return jsonify(list(state.log))

    @app.get("/_sim/records")
    def held() -> Response:
        with state.lock:
            return jsonify(records())

    @app.post("/_sim/reset")
    def reset() -> Response:
        state.reset()
        return jsonify(reset=True)
