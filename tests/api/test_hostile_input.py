"""Hostile input at every door of the API: never a 5xx, never a half-stored request, never
another request's personal data, never a fetched URL.

Basics (NUL and control characters in most fields, body over the limit, 101 attributes,
non-finite coordinates, undecodable form bodies) are in test_post_requests.py; this file
covers what is left: every field's own length limit, every text field's bytes, injection
strings kept verbatim, path tricks in every id, odd numbers in every coordinate, dates at
the edge of the calendar, XML bodies, media URLs aimed at the city's own network.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa

from open311.extensions import db
from open311.keys import create_key
from open311.models import DispatchJob, RequestUpdate, ServiceRequest, Token
from tests.api.test_post_requests import (
    P01,
    PERSONAL,
    S1_OK,
    _multipart,
    error_ok,
    new_id,
    one_receipt,
    post,
    post_raw,
)
from tests.helpers import error_descriptions

BASE = "/open311/v2"
FORMATS = ("xml", "json")


def counts() -> tuple[int, ...]:
    """Rows of every table a POST writes to: none may change on a refused request."""
    db.session.expire_all()
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (ServiceRequest, Token, DispatchJob, RequestUpdate)
    )


def clean_refusal(response: Any, *statuses: int) -> list[str]:
    """A GeoReport error with one of ``statuses`` (never a 5xx); returns its descriptions."""
    assert response.status_code in statuses, (response.status_code, response.data[:300])
    return error_descriptions(response)


class Canary:
    """An HTTP server on loopback that records every hit: proof that nothing was fetched."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    yield server
    server.stop()


# -- oversize fields: 400 naming the field -------------------------------------------------------

OVERSIZE = {
    "address_string": "a" * 1001,
    "address_id": "a" * 201,
    "first_name": "a" * 201,
    "last_name": "a" * 201,
    "email": "a" * 309 + "@example.org",
    "phone": "5" * 51,
    "device_id": "d" * 201,
    "account_id": "c" * 201,
    "media_url": "https://example.org/" + "m" * 1981,
    "jurisdiction_id": "j" * 201,
    "service_code": "s" * 201,
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("field", list(OVERSIZE))
def test_oversize_field_is_400_naming_it(client, catalogue, api_key, fmt, field):
    before = counts()
    response = post(client, fmt, api_key, **{**P01, field: OVERSIZE[field]})
    descriptions = error_ok(response, 400, fmt)
    assert any(d.startswith(field) for d in descriptions), descriptions
    assert counts() == before


@pytest.mark.parametrize("code", ["REQ1", "TXT", "NUM", "UNKNOWN"])
def test_oversize_attribute_value_is_400_naming_it(client, catalogue, api_key, code):
    before = counts()
    response = post(client, "json", api_key, **{**S1_OK, f"attribute[{code}]": "1" * 4001})
    descriptions = error_ok(response, 400, "json")
    assert any(d.startswith(f"attribute[{code}]") for d in descriptions), descriptions
    assert counts() == before


def test_fields_at_their_limits_are_stored(client, catalogue, api_key):
    form = {name: value[:-1] for name, value in OVERSIZE.items()}
    form["email"] = "a" * 308 + "@example.org"
    form.pop("jurisdiction_id")
    form.pop("service_code")
    new_id(post(client, "json", api_key, **{**P01, **form}), "json")


# -- bytes: invalid UTF-8 and NUL in every text field, query and path --------------------------

TEXT_FIELDS = [
    "description",
    "address_string",
    "address_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "device_id",
    "account_id",
    "jurisdiction_id",
    "service_code",
    "media_url",
    "attribute[REQ1]",
]


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize(
    "raw", [b"a\xffb", b"a\x00b", b"\xc0\xae\xc0\xae/"], ids=["ff", "nul", "overlong"]
)
def test_bad_bytes_in_every_text_field_are_400(client, catalogue, api_key, field, raw):
    before = counts()
    fields = {k: v.encode() for k, v in {**S1_OK, "api_key": api_key}.items()}
    fields[field] = raw
    response = post_raw(client, "json", *_multipart(fields))
    clean_refusal(response, 400)
    encoded = urlencode({**S1_OK, "api_key": api_key, field: "X"}).replace(
        "=X", "=" + quote(raw, safe="")
    )
    clean_refusal(post_raw(client, "xml", encoded), 400)
    assert counts() == before


@pytest.mark.parametrize(
    "query",
    [
        "service_request_id=%ff",
        "q=%C0%AE",
        "jurisdiction_id=a%00b",
        "service_code=%00",
        "cursor=%00",
        "api_key=%ff",
        "bbox=%00",
        "%ff=1",
    ],
)
@pytest.mark.parametrize("path", ["requests.json", "requests.xml", "requests.csv", "services.xml"])
def test_bad_bytes_in_query_strings_are_400(client, catalogue, query, path):
    response = client.get(f"{BASE}/{path}?{query}")
    clean_refusal(response, 400)


# -- ids: path tricks, bytes, length -------------------------------------------------------------

TRICKS = [
    "../1",
    "..%2f1",
    "%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "1%2f..%2f2",
    "....//....//1",
    "%00",
    "1%00",
    "%ff",
    "%C0%AE%C0%AE",
    "1%0a2",
    "%E2%80%AE1",
    "\u00e9\u0301",
    "%F0%9F%92%A9",
    "1;2",
    "1 OR 1=1",
    "1' OR '1'='1",
    "x" * 5000,
]
ID_ROUTES = [
    "requests/{}.json",
    "requests/{}.xml",
    "services/{}.json",
    "services/{}.xml",
    "tokens/{}.json",
    "tokens/{}.xml",
    "jurisdictions/{}.geojson",
]


@pytest.mark.parametrize("trick", TRICKS)
def test_path_tricks_in_ids_are_404_or_400(client, catalogue, api_key, trick):
    existing = new_id(post(client, "json", api_key, **P01, **PERSONAL), "json")
    for route in ID_ROUTES:
        response = client.get(f"{BASE}/" + route.format(trick))
        descriptions = clean_refusal(response, 400, 404)
        assert not any("root:" in d for d in descriptions)
        for value in PERSONAL.values():
            assert value.encode() not in response.data
    response = client.delete(f"{BASE}/subscriptions/{trick}.json?api_key={api_key}")
    clean_refusal(response, 400, 404, 405)
    assert one_receipt(client.get(f"{BASE}/requests/{existing}.json"), "json")


# -- numbers: coordinates, bbox and radius -------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["0x1.8p1", "0x10", "1_0", "١٢", "Infinity", "-Infinity", "nan", "1e309", "-1e309"]
)
@pytest.mark.parametrize("name", ["lat", "long"])
def test_odd_numbers_as_coordinates_are_400(client, catalogue, api_key, name, value):
    before = counts()
    error_ok(post(client, "json", api_key, **{**P01, name: value}), 400, "json")
    assert counts() == before


def test_padded_coordinate_is_read_as_the_number():
    from schemas.inputs import PostRequestForm

    loaded = PostRequestForm().load({**P01, "lat": "  41.5 ", "long": "\t-87.6\n"})
    assert (loaded["lat"], loaded["long"]) == (41.5, -87.6)


@pytest.mark.parametrize(
    "query",
    [
        "bbox=NaN,41,-88,42",
        "bbox=-88,41,Infinity,42",
        "bbox=-1e309,41,-88,42",
        "bbox=0x1p3,41,-88,42",
        "bbox=-88,41,-87",
        "bbox=-88,-91,-87,42",
        "bbox=-87,41,-88,42",
        "lat=NaN&long=-88&radius=10",
        "lat=41&long=-88&radius=Infinity",
        "lat=41&long=-88&radius=1e309",
        "lat=41&long=-88&radius=-5",
        "lat=41&long=-88&radius=0x10",
        "lat=91&long=-88&radius=10",
        "lat=41&long=-181&radius=10",
    ],
)
@pytest.mark.parametrize("path", ["requests.json", "requests.csv", "requests.geojson"])
def test_odd_numbers_in_search_params_are_400(client, catalogue, path, query):
    clean_refusal(client.get(f"{BASE}/{path}?{query}"), 400)


# -- dates at the edges of the calendar (bug: OverflowError answered 500) ------------------------

EDGE_DATES = [
    "9999-12-31T23:59:59Z",
    "9999-12-31",
    "9999-12-31T23:59:59-06:00",
    "0001-01-01T00:00:00+05:00",
    "0001-01-01",
]


@pytest.mark.parametrize("value", EDGE_DATES)
@pytest.mark.parametrize("name", ["start_date", "end_date", "updated_after", "updated_before"])
@pytest.mark.parametrize(
    "path",
    [
        "requests.json",
        "requests.xml",
        "requests.csv",
        "requests.geojson",
        "servicerequestupdates.json",
    ],
)
def test_dates_at_the_edge_of_the_calendar_never_fail(client, catalogue, path, name, value):
    response = client.get(f"{BASE}/{path}?" + urlencode({name: value}))
    body = response.get_data()
    assert response.status_code in (200, 400), (response.status_code, body[:300])
    if response.status_code == 400:
        assert error_descriptions(response)


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-06:00", "0001-01-01T00:00:00+05:00"])
def test_datetime_without_a_utc_equivalent_is_400(client, catalogue, api_key, value):
    before = counts()
    response = post(client, "json", api_key, **{**S1_OK, "attribute[WHEN]": value})
    descriptions = error_ok(response, 400, "json")
    assert any("attribute[WHEN]" in d and "out of range" in d for d in descriptions)
    assert counts() == before


# -- attributes: thousands of keys, duplicates, brackets -----------------------------------------


def test_thousands_of_attribute_keys_are_refused(client, catalogue, api_key):
    before = counts()
    extra = {f"attribute[K{n}]": "v" for n in range(5000)}
    response = post(client, "json", api_key, **S1_OK, **extra)
    clean_refusal(response, 400, 413)
    assert counts() == before


@pytest.mark.parametrize(
    "key", ["attribute[a[b]]", "attribute[a]b]", "attribute[]", "attribute[[]]", "attribute[REQ1"]
)
def test_attribute_codes_with_brackets_are_400(client, catalogue, api_key, key):
    before = counts()
    clean_refusal(post(client, "json", api_key, **S1_OK, **{key: "v"}), 400)
    assert counts() == before


def test_single_value_attribute_sent_twice_says_so(client, catalogue, api_key):
    """Bug: the 'required' message of the empty load hid 'takes a single value'."""
    form = {**S1_OK, "attribute[REQ1]": ["one", "two"]}
    descriptions = error_ok(post(client, "json", api_key, **form), 400, "json")
    assert descriptions == ["attribute[REQ1] takes a single value, got 2."]


def test_duplicate_attribute_values_are_stored_once(client, catalogue, api_key):
    form = {**S1_OK, "attribute[MUL][]": ["x", "x", "y"], "attribute[MUL]": "x"}
    new_id(post(client, "json", api_key, **form), "json")
    db.session.expire_all()
    row = db.session.scalar(sa.select(ServiceRequest))
    assert row.attributes["MUL"] == ["x", "y"]


# -- injection strings: stored and returned verbatim, escaped in CSV, never run ------------------

INJECTIONS = [
    "Robert'); DROP TABLE service_requests;--",
    "' OR '1'='1",
    '" OR ""="',
    "=cmd|' /C calc'!A0",
    "+SUM(1,1)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A2)",
    "%_\\%",
    "<![CDATA[x]]>&amp;<!--",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_round_trip_verbatim(client, catalogue, api_key, text):
    # Every free-text field of the form (email and media_url must be an address and a URL).
    free_text = ("first_name", "last_name", "phone", "device_id", "account_id", "address_id")
    form = {**S1_OK, "description": text, "address_string": text, "attribute[TXT]": text}
    form.update(dict.fromkeys(free_text, text))
    service_request_id = new_id(post(client, "json", api_key, **form), "json")
    db.session.expire_all()
    row = db.session.scalar(sa.select(ServiceRequest))
    assert (row.description, row.address) == (text, text)
    assert [getattr(row, name) for name in free_text] == [text] * len(free_text)
    assert row.attributes["TXT"] == text
    item = client.get(f"{BASE}/requests/{service_request_id}.json").get_json()[0]
    assert (item["description"], item["address"]) == (text, text)
    from lxml import etree

    root = etree.fromstring(client.get(f"{BASE}/requests/{service_request_id}.xml").data)
    assert root.findtext("request/description") == text
    assert root.findtext("request/address") == text
    assert counts()[0] == 1  # the table is still there, with its one row


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_update_notes_round_trip_verbatim(client, catalogue, api_key, text):
    service_request_id = new_id(post(client, "json", api_key, **P01), "json")
    form = {
        "api_key": api_key,
        "service_request_id": service_request_id,
        "update_id": text,
        "status": "CLOSED",
        "updated_datetime": "2026-11-02T16:00:00Z",
        "description": text,
    }
    response = client.post(f"{BASE}/servicerequestupdates.json", data=form)
    assert response.status_code == 200, response.data
    item = client.get(f"{BASE}/requests/{service_request_id}.json").get_json()[0]
    assert (item["status"], item["status_notes"]) == ("closed", text)
    window = "start_date=2026-11-01T00:00:00Z&end_date=2026-11-03T00:00:00Z"
    [update] = client.get(f"{BASE}/servicerequestupdates.json?{window}").get_json()
    assert update["description"] == text
    [row] = csv.DictReader(io.StringIO(client.get(f"{BASE}/requests.csv").get_data(as_text=True)))
    escaped = "'" + text if text[0] in "=+-@" else text
    assert row["status_notes"] == escaped
    assert counts()[0] == 1


@pytest.mark.parametrize("text", [t for t in INJECTIONS if t[0] in "=+-@"])
def test_formula_cells_are_escaped_in_csv(client, catalogue, api_key, text):
    new_id(
        post(client, "json", api_key, **{**P01, "description": text, "address_string": text}),
        "json",
    )
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"{BASE}/requests.csv").get_data(as_text=True)))
    )
    assert [(r["description"], r["address"]) for r in rows] == [("'" + text, "'" + text)]


@pytest.mark.parametrize(
    "q", ["'", '"', "%", "_", "\\", "' OR 1=1 --", "%' OR description LIKE '%", "a_c", "100%"]
)
def test_text_search_treats_quotes_and_wildcards_as_text(client, catalogue, api_key, q):
    literal = new_id(
        post(client, "json", api_key, **{**P01, "description": "a_c 100% done"}), "json"
    )
    other = new_id(post(client, "json", api_key, **{**P01, "description": "abc xyz"}), "json")
    response = client.get(f"{BASE}/requests.json?" + urlencode({"q": q}))
    assert response.status_code == 200, response.data
    found = {item["service_request_id"] for item in response.get_json()}
    # Quotes and wildcards are text: "%" or "_" matching every row would show "other" too.
    assert other not in found, (q, found)
    assert found <= {literal}
    assert counts()[0] == 2


# -- XML request bodies: refused before any parsing ----------------------------------------------


def _xml_bodies(canary_url: str) -> dict[str, str]:
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    return {
        "billion-laughs": f"<!DOCTYPE r [{laughs}]><r><description>&lol9;</description></r>",
        "xxe-file": '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        "xxe-http": f'<!DOCTYPE r [<!ENTITY x SYSTEM "{canary_url}/x">]><r>&x;</r>',
        "dtd": f'<!DOCTYPE r SYSTEM "{canary_url}/dtd"><r/>',
        "pi": f'<?xml-stylesheet href="{canary_url}/xsl"?><r/>',
        "deep": "<r>" + "<a>" * 10000 + "</a>" * 10000 + "</r>",
    }


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml"])
@pytest.mark.parametrize("name", list(_xml_bodies("http://127.0.0.1:9")))
def test_xml_request_bodies_are_refused_cleanly(
    client, catalogue, api_key, canary, content_type, name
):
    before = counts()
    body = _xml_bodies(canary.url)[name]
    for path in (
        f"requests.xml?api_key={api_key}",
        f"requests.json?api_key={api_key}",
        f"servicerequestupdates.xml?api_key={api_key}",
        f"subscriptions.json?api_key={api_key}",
    ):
        response = client.post(f"{BASE}/{path}", data=body, content_type=content_type)
        clean_refusal(response, 400, 403)
        assert b"root:" not in response.data
        assert b"lollol" not in response.data
    assert counts() == before
    assert canary.hits == []


# -- media URLs: stored or refused by the rules, never fetched -----------------------------------

MEDIA = {
    "loopback": "{canary}/loopback.jpg",
    "localhost": "http://localhost:{port}/localhost.jpg",
    "ipv6-loopback": "http://[::1]:{port}/v6.jpg",
    "private": "http://10.0.0.1/private.jpg",
    "link-local": "http://169.254.169.254/latest/meta-data/",
    "file": "file:///etc/passwd",
    "javascript": "javascript:fetch('{canary}/js')",
    "data": "data:image/svg+xml;base64,PHN2Zy8+",
    "ftp": "ftp://127.0.0.1/x.jpg",
}


@pytest.mark.parametrize("kind", list(MEDIA))
def test_media_urls_are_never_fetched(client, catalogue, api_key, canary, kind):
    port = canary.url.rsplit(":", 1)[1]
    url = MEDIA[kind].format(canary=canary.url, port=port)
    response = post(client, "json", api_key, **{**P01, "media_url": url})
    if url.startswith("http"):
        service_request_id = new_id(response, "json")  # a link is a link: stored as sent
        item = client.get(f"{BASE}/requests/{service_request_id}.json").get_json()[0]
        assert item["media_url"] == url
        assert db.session.scalar(sa.select(DispatchJob.state)) == "delivered"  # local, inline
    else:
        descriptions = error_ok(response, 400, "json")
        assert any(d.startswith("media_url") for d in descriptions)
        assert counts() == (0, 0, 0, 0)
    for path in ("requests.json", "requests.xml", "requests.csv", "requests.geojson"):
        client.get(f"{BASE}/{path}").get_data()
    assert canary.hits == []


# -- one request's id never opens another's personal data ----------------------------------------


def test_ids_and_tokens_of_other_requests_never_reveal_personal_fields(client, catalogue, api_key):
    victim = new_id(post(client, "json", api_key, **P01, **PERSONAL), "json")
    token = one_receipt(
        post(client, "json", api_key, **{**P01, **PERSONAL, "service_code": "SB"}), "json"
    )["token"]
    mine = new_id(post(client, "json", api_key, **P01), "json")
    admin = create_key("staff", admin=True)[1]
    urls = [
        f"{BASE}/requests.json?service_request_id={victim}",
        f"{BASE}/requests.json?service_request_id={mine},{victim}&extensions=true",
        f"{BASE}/requests.xml?service_request_id={victim}&api_key={api_key}",
        f"{BASE}/requests/{victim}.json?extensions=true&api_key={api_key}",
        f"{BASE}/requests/{victim}.xml?extensions=true&api_key={admin}",
        f"{BASE}/requests/{mine}.json?service_request_id={victim}",
        f"{BASE}/tokens/{token}.json?service_request_id={victim}",
        f"{BASE}/tokens/{token}.xml",
        f"{BASE}/servicerequestupdates.json?service_request_id={victim}",
        f"{BASE}/requests.csv?service_request_id={victim}",
        f"{BASE}/requests.geojson?service_request_id={victim}",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, (url, response.data)
        data = response.get_data()
        for name, value in PERSONAL.items():
            assert value.encode() not in data, (url, name)


@pytest.mark.parametrize("trick", ["%00", "a%00b", "%ff", "%0a", "%1b[31m"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/notifications/unsubscribe/{}"),
        ("get", "/notifications/unsubscribe/{}"),
        ("post", "/hooks/departments/{}"),
    ],
)
def test_bad_bytes_in_other_paths_are_refused(client, catalogue, method, path, trick):
    """Bug: NUL in a path id reached PostgreSQL, which refuses it with an error (a 500)."""
    response = getattr(client, method)(path.format(trick), data=b"{}")
    if "%00" in trick:
        assert response.status_code == 400, response.data
    else:  # GET only shows a button; other odd ids are simply unknown
        assert response.status_code in (200, 400, 404), response.data


# -- oversize bodies at every door that takes one ------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/requests.json",
        "/open311/v2/requests.xml",
        "/open311/v2/servicerequestupdates.json",
        "/open311/v2/subscriptions.json",
        "/hooks/departments/streets",
        "/notifications/unsubscribe/abc",
    ],
)
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
def test_oversize_bodies_are_413(app, client, catalogue, api_key, path, content_type):
    before = counts()
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b"description=" + b"d" * limit
    response = client.post(f"{path}?api_key={api_key}", data=body, content_type=content_type)
    assert response.status_code in (400, 403, 404, 413), response.status_code
    if content_type.endswith("urlencoded") and "/open311/" in path:
        assert response.status_code == 413
    assert counts() == before
