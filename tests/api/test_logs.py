"""Structured logs: one access line per request with its id, and no personal data or key.

Every record the gateway makes is captured through the real formatter and request-id filter
(those ``open311 serve`` installs), as JSON lines, then read back.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from open311 import logs
from open311.config import ConfigError, load_settings
from open311.extensions import db
from tests.api.test_post_requests import P01, PERSONAL

BASE = "/open311/v2"


class Captured:
    """Every log record of the test, as the JSON lines the gateway would print."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logs.formatter("json"))
        self.handler.addFilter(logs.RequestIdFilter())

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["logger"] == "open311.access"]


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = Captured()
    root = logging.getLogger()
    root.addHandler(capture.handler)
    try:
        yield capture
    finally:
        root.removeHandler(capture.handler)


def call(client: Any, method: str, url: str, **kwargs: Any) -> Any:
    """One request, read and closed (the access line is written when the body is closed)."""
    response = getattr(client, method)(url, **kwargs)
    response.get_data()
    response.close()
    return response


@contextmanager
def failing_inserts() -> Iterator[None]:
    """Make the database refuse every new request (a trigger): a 500 carrying the row."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text(
                    "CREATE FUNCTION hostile_boom() RETURNS trigger AS "
                    "$$ BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                sa.text(
                    "CREATE TRIGGER hostile_boom BEFORE INSERT ON service_requests "
                    "FOR EACH ROW EXECUTE FUNCTION hostile_boom()"
                )
            )
        else:
            connection.execute(
                sa.text(
                    "CREATE TRIGGER hostile_boom BEFORE INSERT ON service_requests "
                    "BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            )
    try:
        yield
    finally:
        db.session.remove()
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("DROP TRIGGER hostile_boom ON service_requests"))
                connection.execute(sa.text("DROP FUNCTION hostile_boom()"))
            else:
                connection.execute(sa.text("DROP TRIGGER hostile_boom"))


def test_one_line_per_request_with_its_id_and_no_personal_data(
    client, catalogue, api_key, captured
):
    form = {**P01, **PERSONAL, "api_key": api_key}
    responses = [
        call(
            client, "post", f"{BASE}/requests.json", data=form, headers={"X-Request-Id": "c-1.a_b"}
        ),
        call(client, "get", f"{BASE}/requests.json?api_key={api_key}&q=pothole"),
        call(client, "get", f"{BASE}/requests/999999.json?api_key={api_key}"),
        call(client, "post", f"{BASE}/requests.xml", data={**form, "api_key": api_key + "x"}),
        call(client, "get", f"{BASE}/services.xml", headers={"X-Request-Id": "bad id\t<script>"}),
    ]
    with failing_inserts():
        responses.append(call(client, "post", f"{BASE}/requests.json", data=form))
    assert [r.status_code for r in responses] == [200, 200, 404, 403, 200, 500]

    lines = captured.access()
    assert len(lines) == len(responses)
    for line, response in zip(lines, responses, strict=True):
        assert line["request_id"] == response.headers["X-Request-Id"]
        assert line["status"] == response.status_code
        assert "?" not in line["path"]
        assert line["method"] in ("GET", "POST")
        assert isinstance(line["duration_ms"], float)
        assert line["level"] == "INFO"
    assert lines[0]["request_id"] == "c-1.a_b"  # a safe incoming id is kept
    assert lines[4]["request_id"] != "bad id\t<script>"  # an unsafe one is replaced
    assert len({line["request_id"] for line in lines}) == len(lines)

    crash = [r for r in captured.records() if r["logger"] == "open311.errors"]
    assert len(crash) == 1
    assert crash[0]["request_id"] == lines[-1]["request_id"]
    assert "boom" in crash[0]["exc_info"]  # the traceback is there...
    everything = captured.text
    for name, value in PERSONAL.items():  # ...but not the row it failed to insert
        assert value not in everything, name
        assert json.dumps(value)[1:-1] not in everything, name
    assert api_key not in everything
    assert "pothole" not in everything  # query values stay out too


def test_text_format_is_one_readable_line(client, catalogue, captured):
    captured.handler.setFormatter(logs.formatter("text"))
    response = call(client, "get", f"{BASE}/requests/a%0ab.json")
    [line] = [t for t in captured.text.splitlines() if "open311.access" in t]
    assert f"[{response.headers['X-Request-Id']}]" in line
    assert "GET /open311/v2/requests/a\\x0ab.json 404" in line  # no forged second line


def test_unsubscribe_tokens_are_not_logged(client, catalogue, captured):
    call(client, "get", "/notifications/unsubscribe/s3cret-token")
    call(client, "post", "/notifications/unsubscribe/s3cret-token")
    assert "s3cret-token" not in captured.text
    assert [line["path"] for line in captured.access()] == [
        "/notifications/unsubscribe/[redacted]"
    ] * 2


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc", True),
        ("A.b-c_9", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("a b", False),
        ("a/b", False),
        ("é", False),
        ("a;b", False),
        (None, False),
    ],
)
def test_request_id_pattern(incoming, kept):
    chosen = logs.request_id_for(incoming)
    assert (chosen == incoming) is kept
    assert logs._SAFE_ID.fullmatch(chosen)


def test_log_format_setting(tmp_path):
    assert load_settings(str(tmp_path), environ={}).log_format is None
    assert logs.default_format(None) == "json"
    assert logs.default_format(None, debug=True) == "text"
    assert logs.default_format("json", debug=True) == "json"
    settings = load_settings(str(tmp_path), environ={"OPEN311_LOG_FORMAT": "text"})
    assert settings.log_format == "text"
    with pytest.raises(ConfigError, match="OPEN311_LOG_FORMAT"):
        load_settings(str(tmp_path), environ={"OPEN311_LOG_FORMAT": "xml"})


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_db_upgrade_logs_in_the_gateways_format(tmp_path, fmt):
    # A real process: alembic's environment once installed handlers of its own from
    # alembic.ini, so migration lines came out in another format.
    environ = {
        **os.environ,
        "OPEN311_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "OPEN311_LOG_FORMAT": fmt,
    }
    result = subprocess.run(
        [str(Path(sys.executable).with_name("open311")), "db", "upgrade"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("Running upgrade" in line for line in lines), result.stderr
    if fmt == "json":
        records = [json.loads(line) for line in lines]  # every line, not just most
        assert {r["logger"] for r in records} >= {"alembic.runtime.migration"}
    else:
        assert not any(line.startswith("INFO  [alembic") for line in lines), result.stderr
        # Outside any HTTP request there is no request id: a dash, not Python's None.
        assert all(" [-] " in line for line in lines if "alembic" in line), result.stderr
