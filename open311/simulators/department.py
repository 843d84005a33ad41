"""A department's JSON REST work-request system (docs/vendors.md §5.2).

OAuth client-credentials tokens, ``Idempotency-Key`` on create, problem+json errors, 409
with ``existing_id`` for a known ``external_ref``, 429 with ``Retry-After``. Its log
(``GET /_sim/requests``) and records (``GET /_sim/records``) are what tests check delivery
against.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

from open311.simulators.server import Fault, FaultBoard, add_control_plane, pause

PROBLEM = "application/problem+json"
STATUSES = ("received", "triaged", "assigned", "in_progress", "on_hold", "completed")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DepartmentState:
    """Everything the simulated department knows; guarded by one lock."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        """Start empty, accepting one client's credentials."""
        self.client_id, self.client_secret = client_id, client_secret
        self.lock = threading.Lock()
        self.faults = FaultBoard()
        self.reset()

    def reset(self) -> None:
        """Forget records, tokens, idempotency keys, the log and the faults."""
        with self.lock:
            self.tokens: set[str] = set()
            self.records: dict[str, dict[str, Any]] = {}
            self.by_ref: dict[str, str] = {}
            self.keys: dict[str, tuple[str, str]] = {}  # key -> (body digest, record id)
            self.log: list[dict[str, Any]] = []
        self.faults.set([])

    def note(self, operation: str, outcome: str, **extra: Any) -> None:
        """Append one call to the log."""
        with self.lock:
            self.log.append({"operation": operation, "outcome": outcome, **extra})


def problem(status: int, kind: str, title: str, **extra: Any) -> Response:
    """An ``application/problem+json`` response."""
    body = {"type": f"https://dept.example/problems/{kind}", "title": title, "status": status}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    return response


def _fault_response(fault: Fault) -> Response | None:
    # Faults that answer without acting.
    if fault.mode == "status":
        if fault.status >= 500 and fault.message == "html":
            response = Response("<html><body><h1>502 Bad Gateway</h1></body></html>", 502)
            response.mimetype = "text/html"
        else:
            kind = "rate-limited" if fault.status == 429 else "unavailable"
            response = problem(fault.status, kind, fault.message, retryable=True)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(int(fault.retry_after))
        return response
    if fault.mode == "slow_before":
        pause(fault.delay)
        return problem(503, "unavailable", "Timed out", retryable=True)
    if fault.mode == "malformed":
        return Response('{"id": "WR-', 200, mimetype="application/json")
    if fault.mode == "html":
        return Response("<html><body>Service error</body></html>", 200, mimetype="text/html")
    if fault.mode == "auth":
        return problem(403, "forbidden", "Scope not granted")
    return None


def create_simulator(client_id: str = "gateway", client_secret: str = "s3cret") -> Flask:  # noqa: S107 - a simulator's demo secret
    """The simulator as a Flask app; its state is ``app.extensions['department']``."""
    app = Flask("department-simulator")
    state = DepartmentState(client_id, client_secret)
    app.extensions["department"] = state

    @app.post("/oauth/token")
    def token() -> Response:
        form = request.form
        fault = state.faults.draw("token")
        if fault and fault.mode == "status":
            return _fault_response(fault) or problem(500, "error", "error")
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != state.client_id
            or form.get("client_secret") != state.client_secret
            or (fault and fault.mode == "auth")
        ):
            state.note("token", "refused")
            return problem(401, "invalid-client", "Unknown client or secret")
        issued = secrets.token_urlsafe(16)
        with state.lock:
            state.tokens.add(issued)
        state.note("token", "issued")
        return jsonify(access_token=issued, token_type="Bearer", expires_in=900)  # noqa: S106

    def authorised() -> Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in state.tokens:
            response = problem(401, "token-expired", "Token expired or unknown")
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        return None

    @app.post("/api/v1/work-requests")
    def create() -> Response:
        refused = authorised()
        if refused is not None:
            state.note("create", "unauthorised")
            return refused
        # Faults are drawn only for calls that got past authentication, so that a counted
        # fault is never used up by a call the client will replay anyway.
        fault = state.faults.draw("create")
        if fault and fault.mode == "expire_token":
            with state.lock:
                state.tokens.clear()
            state.note("create", "unauthorised")
            return authorised() or problem(401, "token-expired", "Token expired")
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return problem(400, "missing-idempotency-key", "Idempotency-Key is required")
        if fault:
            answer = _fault_response(fault)
            if answer is not None:
                state.note("create", f"fault:{fault.mode}", key=key)
                return answer
        raw = request.get_data()
        try:
            body = json.loads(raw)
            ref = body["external_ref"]
        except (ValueError, KeyError, TypeError):
            return problem(400, "malformed", "Body is not a work request")
        digest = hashlib.sha256(raw).hexdigest()
        with state.lock:
            known = state.keys.get(key)
            if known and known[0] != digest:
                outcome, answer = "key-reused", problem(422, "idempotency-key-reused", "Reused")
            elif known:
                outcome, answer = "replayed", jsonify(state.records[known[1]]["public"])
                answer.headers["Idempotent-Replayed"] = "true"
            elif ref in state.by_ref:
                existing = state.by_ref[ref]
                outcome = "conflict"
                answer = problem(409, "duplicate", "Already known", existing_id=existing)
            else:
                record_id = f"WR-{len(state.records) + 1:06d}"
                stamp = _now()
                public = {
                    "id": record_id,
                    "external_ref": ref,
                    "status": "received",
                    "version": 1,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                state.records[record_id] = {"public": public, "body": body, "key": key}
                state.by_ref[ref] = record_id
                state.keys[key] = (digest, record_id)
                outcome, answer = "created", jsonify(public)
                answer.status_code = 201
                answer.headers["Location"] = f"/api/v1/work-requests/{record_id}"
        state.note("create", outcome, key=key, external_ref=ref)
        if fault and fault.mode == "slow_after":
            pause(fault.delay)
        if fault and fault.mode == "drop_after":
            return Response(answer.get_data()[:7], 200, mimetype="application/json")
        if fault and fault.mode == "bom":
            answer.set_data(b"\xef\xbb\xbf" + answer.get_data())
        return answer

    @app.get("/api/v1/work-requests")
    def search() -> Response:
        refused = authorised()
        if refused is not None:
            return refused
        fault = state.faults.draw("lookup")
        if fault:
            answer = _fault_response(fault)
            if answer is not None:
                return answer
        ref = request.args.get("external_ref")
        since = request.args.get("updated_since")
        with state.lock:
            found = [
                r["public"]
                for r in state.records.values()
                if (ref is None or r["public"]["external_ref"] == ref)
                and (since is None or r["public"]["updated_at"] >= since)
            ]
        found.sort(key=lambda r: (r["updated_at"], r["id"]))
        state.note("lookup", "found" if found else "none", external_ref=ref)
        return jsonify(data=found, next_cursor=None)

    @app.post("/_sim/records/<record_id>/status")
    def advance(record_id: str) -> Response:
        raw = request.get_json(force=True)
        with state.lock:
            record = state.records.get(record_id)
            if record is None:
                return problem(404, "not-found", "No such work request")
            public = record["public"]
            public.update(
                status=raw["status"],
                public_note=raw.get("public_note"),
                version=public["version"] + 1,
                updated_at=raw.get("at") or _now(),
            )
        return jsonify(public)

    @app.get("/api/v1/work-requests/<record_id>")
    def read(record_id: str) -> Response:
        refused = authorised()
        if refused is not None:
            return refused
        record = state.records.get(record_id)
        if record is None:
            return problem(404, "not-found", "No such work request")
        return jsonify(record["public"])

    @app.post("/_sim/faults")
    def faults() -> Response:
        raw = request.get_json(force=True)
        try:
            loaded = [Fault.load(f) for f in raw.get("faults", [])]
        except (TypeError, ValueError) as exc:
            return problem(400, "bad-fault", str(exc))
        state.faults.set(loaded, raw.get("seed"))
        return jsonify(active=len(loaded))

    add_control_plane(
        app, state, lambda: [r["public"] | {"key": r["key"]} for r in state.records.values()]
    )
    return app
