"""Hostile back ends: what a vendor answers is parsed safely, and nothing is ever fetched.

A real HTTP server on loopback plays the vendor and answers every call with one scripted
document (entity bombs, external entities, DTDs, processing instructions, deep or huge
trees, JSON nested past any sane depth, NaN). A second one, the canary, records every hit:
an external entity, DTD, stylesheet or media URL that the gateway fetched would show there.
The adapters' own code parses the answers, through the dispatcher, as in production.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from adapters import jsondoc
from adapters.citysourced.client import parse_json, parse_xml
from adapters.xml import parse as parse_vendor_xml
from open311 import dispatch
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.feedfile import FeedError
from open311.feedfile import parse as parse_feed
from open311.hooks import signature
from open311.models import WebhookEvent
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import (
    citysourced_backend,
    department_backend,
    jobs,
    post,
    settle,
)
from tests.helpers import PERSONAL


class Recorder:
    """An HTTP server on loopback that records each hit and answers a scripted body."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str]] = []
        self.body = b"canary"
        self.content_type = "text/plain"
        self.status = 200
        self.status_by_path: dict[str, int] = {}
        self.by_path: dict[str, bytes] = {}
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                recorder.hits.append((self.command, self.path))
                body = recorder.by_path.get(self.path.split("?")[0], recorder.body)
                path = self.path.split("?")[0]
                self.send_response(recorder.status_by_path.get(path, recorder.status))
                self.send_header("Content-Type", recorder.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_HEAD = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canary() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


@pytest.fixture
def vendor() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


def _laughs(root: str) -> str:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [{entities}]>'
        f"<{root}><Message>&lol9;</Message><ReportId>&lol9;</ReportId></{root}>"
    )


def xml_attacks(canary_url: str) -> dict[str, str]:
    """Hostile CsResponse documents; the canary URL stands for any host they could reach."""
    return {
        "billion-laughs": _laughs("CsResponse"),
        "xxe-file": (
            '<!DOCTYPE CsResponse [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            "<CsResponse><Message>&x;</Message><ReportId>&x;</ReportId></CsResponse>"
        ),
        "xxe-http": (
            f'<!DOCTYPE CsResponse [<!ENTITY x SYSTEM "{canary_url}/entity">]>'
            "<CsResponse><Message>&x;</Message><ReportId>&x;</ReportId></CsResponse>"
        ),
        "parameter-entity": (
            f'<!DOCTYPE CsResponse [<!ENTITY % p SYSTEM "{canary_url}/parameter"> %p;]>'
            "<CsResponse><ReportId>&e;</ReportId></CsResponse>"
        ),
        "external-dtd": (
            f'<!DOCTYPE CsResponse SYSTEM "{canary_url}/dtd">'
            "<CsResponse><ReportId>9001</ReportId></CsResponse>"
        ),
        "processing-instructions": (
            f'<?xml-stylesheet type="text/xsl" href="{canary_url}/xsl"?>'
            "<CsResponse><?php system('id'); ?><ReportId>9002</ReportId></CsResponse>"
        ),
        "xinclude": (
            '<CsResponse xmlns:xi="http://www.w3.org/2001/XInclude"><ReportId>'
            f'<xi:include href="{canary_url}/xinclude" parse="text"/></ReportId></CsResponse>'
        ),
        "deep": "<CsResponse>" + "<a>" * 5000 + "</a>" * 5000 + "</CsResponse>",
        "huge": "<CsResponse><Message>" + "A" * (11 * 1024 * 1024) + "</Message></CsResponse>",
    }


JSON_ATTACKS = {
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nan": b'{"CsResponse": {"Message": NaN, "ReportId": Infinity}}',
    "not-utf8": b'{"CsResponse": {"ReportId": "\xff\xfe"}}',
    "huge-number": b'{"CsResponse": {"ReportId": 1e400}}',
}
JSON_REFUSAL = r"depth limit|unexpected character|not valid UTF-8|infinity"

# -- the parsers themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(xml_attacks("http://127.0.0.1:9")))
def test_vendor_xml_parser_expands_nothing_and_fetches_nothing(canary, name):
    document = xml_attacks(canary.url)[name].encode()
    try:
        parsed = parse_xml(document)
    except ValueError:
        parsed = None  # refused as not well-formed: as good as harmless
    if parsed is not None:
        values = [parsed.message, *parsed.fields.values()]
        assert all(len(v) < 100 for v in values), name
        assert not any("root:" in v or "lollol" in v for v in values)
    assert canary.hits == []


def test_vendor_xml_parser_keeps_literal_values_beside_a_dtd(canary):
    attacks = xml_attacks(canary.url)
    assert parse_xml(attacks["external-dtd"].encode()).fields["ReportId"] == "9001"
    assert parse_xml(attacks["processing-instructions"].encode()).fields["ReportId"] == "9002"
    root = parse_vendor_xml(attacks["processing-instructions"].encode())
    assert not [node for node in root.iter() if not isinstance(node.tag, str)]  # PIs removed
    assert canary.hits == []


@pytest.mark.parametrize("name", list(JSON_ATTACKS))
def test_vendor_json_is_refused_as_value_error(name):
    with pytest.raises(ValueError, match=JSON_REFUSAL):
        jsondoc.parse(JSON_ATTACKS[name])
    with pytest.raises(ValueError, match=JSON_REFUSAL):
        parse_json(JSON_ATTACKS[name])


def test_vendor_json_still_reads_a_byte_order_mark():
    assert jsondoc.parse(b'\xef\xbb\xbf{"a": [1, 2.5]}') == {"a": [1, 2.5]}


@pytest.mark.parametrize("name", ["deep", "nan"])
def test_imported_json_feed_refuses_hostile_documents_cleanly(name):
    with pytest.raises(FeedError):
        parse_feed(JSON_ATTACKS[name])


@pytest.mark.parametrize("name", ["billion-laughs", "xxe-file", "xxe-http", "deep"])
def test_imported_xml_feed_refuses_hostile_documents_cleanly(canary, name):
    document = xml_attacks(canary.url)[name].replace("CsResponse", "service_requests")
    with pytest.raises(FeedError):
        parse_feed(document.encode())
    assert canary.hits == []


# -- through the dispatcher, against a real server ---------------------------------------------


def _route_to(backend: dict[str, Any]) -> None:
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"vendor": backend}
    data["services"][0]["backend"] = "vendor"  # S0
    import_catalogue(data)


@pytest.fixture
def every_adapter(fast_retries, set_setting) -> None:
    set_setting(adapters=("local", "department", "citysourced", "open311"))


def _attempt_once(caplog: Any) -> str | None:
    with caplog.at_level(logging.WARNING, logger="open311.dispatch"):
        state = dispatch.work_once()
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert crashes == [], "an unreadable answer must be a failed attempt, not an adapter crash"
    return state


@pytest.mark.parametrize("name", list(xml_attacks("http://127.0.0.1:9")))
def test_citysourced_xml_answer_fails_cleanly(
    client, every_adapter, api_key, vendor, canary, caplog, name
):
    vendor.body = xml_attacks(canary.url)[name].encode()
    vendor.content_type = "application/xml"
    _route_to(citysourced_backend(vendor.url, output="xml"))
    post(client, api_key, description="hostile vendor")
    state = _attempt_once(caplog)
    [job] = jobs()
    if name in ("external-dtd", "processing-instructions"):
        # The literal id next to the markup is read; the markup itself does nothing.
        assert state == "delivered"
        assert job.reference in ("9001", "9002")
    else:
        assert state == "retrying", job.last_error
        assert "root:" not in job.last_error
        assert "lollol" not in job.last_error
    assert vendor.hits
    assert canary.hits == []


@pytest.mark.parametrize("name", list(JSON_ATTACKS))
@pytest.mark.parametrize("adapter", ["citysourced", "department", "open311"])
def test_json_answer_fails_cleanly(client, every_adapter, api_key, vendor, caplog, adapter, name):
    vendor.body = JSON_ATTACKS[name]
    vendor.content_type = "application/json"
    if adapter == "citysourced":
        _route_to(citysourced_backend(vendor.url, output="json"))
    elif adapter == "department":
        # A good token, so that the hostile document is the create answer itself.
        vendor.by_path["/oauth/token"] = b'{"access_token": "t", "expires_in": 3600}'
        _route_to(department_backend(vendor.url))
    else:
        _route_to({"adapter": "open311", "settings": {"base_url": vendor.url, "api_key": "k"}})
    post(client, api_key, description="hostile vendor")
    assert _attempt_once(caplog) == "retrying"
    [job] = jobs()
    assert job.state == "retrying"
    assert job.last_error
    assert len(vendor.hits) >= 1


class Trickler:
    """A vendor that answers 200 and then sends a few bytes at a time, never finishing."""

    def __init__(self) -> None:
        self.hits = 0
        trickler = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                trickler.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    self.wfile.write(b'{"CsResponse": {"Message": "')
                    for _ in range(200):  # 20 s at most; the client hangs up long before
                        self.wfile.write(b"x" * 16)
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass  # the gateway hung up: what it should do

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_an_oversize_answer_is_cut_off_and_retried(client, every_adapter, api_key, vendor, caplog):
    vendor.body = b'{"CsResponse": {"Message": "' + b"A" * (2 * 1024 * 1024) + b'"}}'
    vendor.content_type = "application/json"
    _route_to(citysourced_backend(vendor.url, output="json", max_answer_bytes=64 * 1024))
    post(client, api_key, description="hostile vendor")
    assert _attempt_once(caplog) == "retrying"
    [job] = jobs()
    assert "answer over 65536 bytes" in job.last_error
    assert len(vendor.hits) == 1


def test_a_trickling_answer_is_cut_off_at_the_deadline(client, every_adapter, api_key, caplog):
    # Each chunk comes well within read_timeout, so only the total deadline can end it.
    trickler = Trickler()
    try:
        _route_to(
            citysourced_backend(trickler.url, output="json", read_timeout=5.0, answer_deadline=1.0)
        )
        post(client, api_key, description="hostile vendor")
        assert _attempt_once(caplog) == "retrying"
        [job] = jobs()
        assert "answer not read within 1 s" in job.last_error
        assert trickler.hits == 1
    finally:
        trickler.server.shutdown()
        trickler.server.server_close()


# -- workers: personal data stays out of their logs; media URLs are never fetched -------------


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "status", "status": 500, "remaining": 2},
        {"mode": "malformed", "remaining": 1},
        {"mode": "drop_after", "remaining": 1},
    ],
    ids=["500", "truncated", "lost"],
)
def test_delivery_logs_carry_no_personal_data(
    client, routed, api_key, department, caplog, canary, fault
):
    department.faults(fault)
    media = f"{canary.url}/photo.jpg"
    with caplog.at_level(logging.DEBUG):
        post(client, api_key, description="logged?", media_url=media, **PERSONAL)
        settle()
    [job] = jobs()
    assert job.state == "delivered"
    assert any(r.getMessage().endswith(" sent") for r in caplog.records)  # the log was read
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    for name, value in PERSONAL.items():
        assert value not in logged, name
    assert canary.hits == []  # the link went along as text, nobody fetched it


@pytest.mark.parametrize("status", [400, 500])
@pytest.mark.parametrize("adapter", ["citysourced", "department", "open311"])
def test_a_vendor_quoting_the_reporter_is_redacted(
    client, every_adapter, api_key, vendor, caplog, adapter, status
):
    # Validation errors often repeat the offending value; the text is kept and logged.
    vendor.status = status
    vendor.content_type = "text/plain"
    vendor.body = (
        f"Rejected: {PERSONAL['first_name']} {PERSONAL['last_name']}, "
        f"{PERSONAL['email']}, tel 630-256-4636, account {PERSONAL['account_id']}"
    ).encode()
    if adapter == "citysourced":
        _route_to(citysourced_backend(vendor.url, output="json"))
    elif adapter == "department":
        vendor.by_path["/oauth/token"] = b'{"access_token": "t", "expires_in": 3600}'
        vendor.status_by_path["/oauth/token"] = 200
        _route_to(department_backend(vendor.url))
    else:
        _route_to({"adapter": "open311", "settings": {"base_url": vendor.url, "api_key": "k"}})
    post(client, api_key, description="quoted", **PERSONAL)
    with caplog.at_level(logging.DEBUG):
        state = _attempt_once(caplog)
    [job] = jobs()
    assert state == ("failed" if status == 400 else "retrying"), job.last_error
    assert "Rejected:" in job.last_error
    assert "[redacted]" in job.last_error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "[redacted]" in logged
    for text in (job.last_error, logged):
        for name, value in PERSONAL.items():
            assert value not in text, name
        assert "630-256-4636" not in text


def test_media_urls_are_never_fetched_by_any_adapter(
    client, every_adapter, api_key, citysourced, department, canary, neighbour
):
    _, neighbour_url, neighbour_key = neighbour
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {
        "cs": citysourced_backend(citysourced.url),
        "dept": department_backend(department.url),
        "gw": {
            "adapter": "open311",
            "settings": {"base_url": neighbour_url, "api_key": neighbour_key},
        },
    }
    for service, backend in zip(data["services"], ["cs", "dept", "gw"], strict=False):
        service["backend"] = backend
    data["backends"]["cs"]["settings"]["request_types"]["S1"] = {"name": "Tree", "id": 8}
    import_catalogue(data)
    links = [f"{canary.url}/{n}.jpg" for n in range(3)]
    post(client, api_key, "S0", media_url=links[0])
    post(client, api_key, "S1", media_url=links[1], **{"attribute[REQ1]": "t"})
    post(client, api_key, "SB", media_url=links[2], **{"address_string": "1 Main St"})
    settle()
    assert sorted(j.state for j in jobs()) == ["delivered"] * 3
    assert canary.hits == []


# -- a department's signed webhook body is parsed the same way ---------------------------------


HOOK_SECRET = "whsec-hostile-01"
HOOK = "/hooks/departments/vendor"


@pytest.fixture
def hooked(fast_retries, department) -> None:
    _route_to(department_backend(department.url, webhook_secret=HOOK_SECRET))


@pytest.mark.parametrize("name", ["deep", "deep-object", "nan", "not-utf8"])
def test_signed_webhook_with_hostile_json_is_400(client, hooked, name):
    """Bug: a signed body nested a few thousand levels deep raised RecursionError (a 500)."""
    raw = JSON_ATTACKS[name]
    stamp = str(int(time.time()))
    headers = {
        "Webhook-Id": "evt-hostile",
        "Webhook-Timestamp": stamp,
        "Webhook-Signature": signature(HOOK_SECRET, stamp, raw),
        "Content-Type": "application/json",
    }
    response = client.post(HOOK, data=raw, headers=headers)
    assert response.status_code == 400, response.data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) == 0
