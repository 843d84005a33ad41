"""A CitySourced-like vendor speaking the v1 XML API (docs/vendors.md §5.1).

``POST /cs/rest/<type>.ashx`` (or ``POST /api/``) with a ``CsRequest`` document; answers are
``CsResponse`` documents, logical errors with HTTP 200 and a ``Message`` (or 401/400 with
``error_status``), ``?Output=json`` for JSON. Timestamps are Chicago wall time without an
offset. ``ExternalRequestId`` dedupes creates unless ``dedupe`` is off.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request
from lxml import etree

from adapters.xml import parse
from open311.simulators.server import Fault, FaultBoard, add_control_plane, pause

CHICAGO = ZoneInfo("America/Chicago")
REQUIRED = ("RequestType", "RequestTypeId", "Latitude", "Longitude", "Description")
KINDS = {
    "createthreeoneone",
    "updatethreeoneone",
    "getreport",
    "getreportsbydeviceid",
    "getreportsbycitystate",
}


def _local_now() -> str:
    return datetime.now(CHICAGO).strftime("%Y-%m-%dT%H:%M:%S")


class VendorState:
    """Reports, the log, the dedupe table and the faults; guarded by one lock."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        """Start empty, accepting the given API keys."""
        self.keys = set(keys)
        self.lock = threading.Lock()
        self.faults = FaultBoard()
        self.dedupe = True
        self.error_status = False  # send logical errors as 401/400 instead of 200
        self.reset()

    def reset(self) -> None:
        """Forget everything but the keys."""
        with self.lock:
            self.reports: dict[str, dict[str, str]] = {}
            self.by_external: dict[str, str] = {}
            self.log: list[dict[str, Any]] = []
            self.next_id = 480200
        self.faults.set([])
        self.dedupe, self.error_status = True, False

    def note(self, operation: str, outcome: str, **extra: Any) -> None:
        """Append one call to the log."""
        with self.lock:
            self.log.append({"operation": operation, "outcome": outcome, **extra})


def _answer(
    fields: list[tuple[str, Any]], *, as_json: bool, status: int = 200, shuffle: bool = False
) -> Response:
    if shuffle:
        fields = random.sample(fields, len(fields))
    if as_json:
        body: dict[str, Any] = {}
        for name, value in fields:
            if name == "Reports":
                items = [dict(report) for report in value]
                # One report comes back as an object, several as a list (XML-to-JSON style).
                body["Reports"] = {
                    "ReportCount": len(items),
                    "Report": items[0] if len(items) == 1 else items,
                }
            else:
                body[name] = value
        return Response(json.dumps({"CsResponse": body}), status, mimetype="application/json")
    root = etree.Element("CsResponse")
    for name, value in fields:
        element = etree.SubElement(root, name)
        if name == "Reports":
            etree.SubElement(element, "ReportCount").text = str(len(value))
            for report in value:
                node = etree.SubElement(element, "Report")
                items = list(report.items())
                for key, text in random.sample(items, len(items)) if shuffle else items:
                    etree.SubElement(node, key).text = text
        else:
            element.text = str(value)
    data = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return Response(data, status, content_type="text/xml; charset=utf-8")


def create_simulator(keys: tuple[str, ...] = ("sim-aurora-key-01",)) -> Flask:
    """The simulator as a Flask app; its state is ``app.extensions['citysourced']``."""
    app = Flask("citysourced-simulator")
    state = VendorState(keys)
    app.extensions["citysourced"] = state

    def error(message: str, as_json: bool, status: int) -> Response:
        code = status if state.error_status else 200
        return _answer(
            [("Message", message), ("ResponseTime", "0.0002 Seconds")], as_json=as_json, status=code
        )

    def fault_answer(fault: Fault, as_json: bool) -> Response | None:
        if fault.mode == "status":
            body = "<html><body><h1>Server Error</h1></body></html>"
            response = Response(body, fault.status, mimetype="text/html")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(int(fault.retry_after))
            return response
        if fault.mode == "slow_before":
            pause(fault.delay)
            return Response("<html>timeout</html>", 503, mimetype="text/html")
        if fault.mode == "malformed":
            return Response(b"<?xml version='1.0'?><CsResponse><Message>New rep", 200)
        if fault.mode == "html":
            return Response("<html><body>Runtime Error</body></html>", 200, mimetype="text/html")
        if fault.mode == "error_message":
            return error(fault.message, as_json, 500)
        if fault.mode == "auth":
            return error("Invalid auth code", as_json, 401)
        return None

    def create(doc: dict[str, Any], as_json: bool, fault: Fault | None) -> Response:
        missing = [name for name in REQUIRED if not doc.get(name)]
        if missing:
            return error(f"Invalid request - missing {', '.join(missing)}", as_json, 400)
        try:
            float(doc["Latitude"]), float(doc["Longitude"])
        except ValueError:
            return error(
                f"Invalid request - Error converting Latitude: {doc['Latitude']!r}", as_json, 400
            )
        external = doc["pairs"].get("ExternalRequestId")
        with state.lock:
            if state.dedupe and external and external in state.by_external:
                report_id, message, outcome = (
                    state.by_external[external],
                    "Report already exists",
                    "existing",
                )
            else:
                state.next_id += 1
                report_id, message, outcome = str(state.next_id), "New report created OK", "created"
                stamp = _local_now()
                state.reports[report_id] = {
                    "Id": report_id,
                    "DateCreated": doc.get("DateCreated") or stamp,
                    "DateUpdated": stamp,
                    "DeviceId": doc.get("DeviceId", ""),
                    "DeviceType": doc.get("DeviceType", ""),
                    "RequestType": doc["RequestType"],
                    "RequestTypeId": doc["RequestTypeId"],
                    "Latitude": doc["Latitude"],
                    "Longitude": doc["Longitude"],
                    "Description": doc["Description"],
                    "AuthorIsAnonymous": doc.get("AuthorIsAnonymous", "True"),
                    "StatusType": "Open",
                    "ExternalRequestId": external or "",
                }
                if external:
                    state.by_external[external] = report_id
        state.note("CreateThreeOneOne", outcome, report_id=report_id, external=external)
        answer = _answer(
            [
                ("Message", message),
                ("ReportId", report_id),
                ("AuthorId", "77120"),
                ("ResponseTime", "0.0183 Seconds"),
            ],
            as_json=as_json,
            shuffle=bool(fault and fault.mode == "shuffle"),
        )
        if fault and fault.mode == "slow_after":
            pause(fault.delay)
        if fault and fault.mode == "drop_after":
            return Response(answer.get_data()[:30], 200, content_type=answer.content_type)
        if fault and fault.mode == "bom":
            answer.set_data(b"\xef\xbb\xbf" + answer.get_data())
        return answer

    def update(doc: dict[str, Any], as_json: bool) -> Response:
        # The agency-side update (vendors.md §5.1): TicketId is the report id.
        ticket, status = doc.get("TicketId", ""), doc.get("StatusType", "")
        with state.lock:
            report = state.reports.get(ticket)
            if report is not None and status:
                report["StatusType"] = status
                report["TicketSla"] = doc.get("TicketSla", "")
                report["StatusNotes"] = doc.get("StatusNotes", "")
                report["DateUpdated"] = _local_now()
        if report is None or not status:
            state.note("UpdateThreeOneOne", "refused", report_id=ticket)
            return error("Update failed - no such ticket or no StatusType", as_json, 400)
        state.note(
            "UpdateThreeOneOne",
            "updated",
            report_id=ticket,
            status=status,
            notes=doc.get("StatusNotes", ""),
        )
        return _answer(
            [("Message", "Report updated OK"), ("ResponseTime", "0.0102 Seconds")],
            as_json=as_json,
        )

    def search(kind: str, doc: dict[str, Any], as_json: bool, fault: Fault | None) -> Response:
        with state.lock:
            reports = list(state.reports.values())
        if kind == "getreport":
            reports = [r for r in reports if r["Id"] == doc.get("ReportId")]
        elif kind == "getreportsbydeviceid":
            reports = [r for r in reports if r["DeviceId"] == doc.get("DeviceId")]
        else:
            start = doc.get("DateUpdatedStart") or ""
            reports = sorted(
                (r for r in reports if r["DateUpdated"] >= start),
                key=lambda r: (r["DateUpdated"], int(r["Id"])),
            )
        public = [{k: v for k, v in r.items() if k != "ExternalRequestId"} for r in reports]
        state.note(doc["ApiRequestType"], "found" if reports else "none")
        return _answer(
            [
                ("Message", "Congratulations! The reports you requested are below."),
                ("ResponseTime", "0.0041 Seconds"),
                ("Reports", public),
            ],
            as_json=as_json,
            shuffle=bool(fault and fault.mode == "shuffle"),
        )

    def handle(path_type: str | None) -> Response:
        as_json = request.args.get("Output", "").lower() == "json"
        try:
            root = parse(request.get_data())
        except ValueError as exc:
            return error(f"Error while parsing the request: {exc}", as_json, 400)
        doc: dict[str, Any] = {c.tag: (c.text or "").strip() for c in root if len(c) == 0}
        doc["pairs"] = {
            p.get("Key"): (p.text or "") for p in root.iterfind("KeyValuePairs/KeyValuePair")
        }
        kind = doc.get("ApiRequestType", "").lower()
        if doc.get("ApiAuthKey") not in state.keys:
            state.note(doc.get("ApiRequestType", ""), "refused")
            return error("Invalid auth code", as_json, 401)
        if kind not in KINDS or (path_type is not None and path_type.lower() != kind):
            return error(f"Unknown request received: {doc.get('ApiRequestType')}", as_json, 400)
        operation = {"createthreeoneone": "create", "updatethreeoneone": "update"}.get(
            kind, "lookup"
        )
        fault = state.faults.draw(operation)
        if fault:
            answer = fault_answer(fault, as_json)
            if answer is not None:
                state.note(doc["ApiRequestType"], f"fault:{fault.mode}")
                return answer
        if kind == "createthreeoneone":
            return create(doc, as_json, fault)
        if kind == "updatethreeoneone":
            return update(doc, as_json)
        return search(kind, doc, as_json, fault)

    @app.post("/cs/rest/<name>.ashx")
    def typed(name: str) -> Response:
        return handle(name)

    @app.post("/api/")
    def single() -> Response:
        return handle(None)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_found(exc: Exception) -> Response:
        return Response("<html><body>404 Not Found</body></html>", 404, mimetype="text/html")

    @app.post("/_sim/faults")
    def faults() -> Response:
        raw = request.get_json(force=True)
        try:
            loaded = [Fault.load(f) for f in raw.get("faults", [])]
        except (TypeError, ValueError) as exc:
            return Response(str(exc), 400)
        state.faults.set(loaded, raw.get("seed"))
        state.dedupe = bool(raw.get("dedupe", True))
        state.error_status = bool(raw.get("error_status", False))
        return jsonify(active=len(loaded))

    @app.post("/_sim/reports/<report_id>/status")
    def advance(report_id: str) -> Response:
        raw = request.get_json(force=True)
        with state.lock:
            report = state.reports.get(report_id)
            if report is None:
                return Response("no such report", 404)
            report["StatusType"] = raw["status"]
            report["TicketSla"] = raw.get("sla", "")
            report["DateUpdated"] = raw.get("at") or _local_now()
        return jsonify(report)

    add_control_plane(app, state, lambda: list(state.reports.values()))
    return app
