"""Benchmark of the request feeds at a million requests, against PostgreSQL alone.

Run by hand (never by the test suite), from the checkout, after ``make install``::

    .venv/bin/python bench/feeds.py [--rows 1000000] [--repeat 20]

It creates a throwaway PostgreSQL/PostGIS database on the local server, migrates it, loads
Aurora's catalogue and ``--rows`` requests spread over five years, starts the gateway under
its production WSGI server (``open311 serve``, gunicorn), and for each query prints the median
latency and throughput over HTTP beside the median time PostgreSQL alone takes to return the
same rows as JSON (the same query through ``psql`` with ``json_agg``), and the ratio. It then
prints ``EXPLAIN ANALYZE`` of each query and drops the database (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
OPEN311 = str(Path(sys.executable).with_name("open311"))
ADMIN_URL = os.environ.get(
    "OPEN311_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DOWNTOWN = (41.7606, -88.3201)

# The 17 public fields as the gateway publishes them, for PostgreSQL's own JSON.
FIELDS_SQL = """
  r.service_request_id, r.status, r.status_notes, s.service_name, s.service_code,
  r.description, r.agency_responsible, r.service_notice,
  to_char(r.requested_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS requested_datetime,
  to_char(r.updated_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_datetime,
  to_char(r.expected_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS expected_datetime,
  r.address, r.address_id, r.zipcode, r.lat, r.long, r.media_url
"""

LOAD_SQL = """
INSERT INTO service_requests (
  id, service_request_id, jurisdiction_pk, service_pk, status, description,
  requested_datetime, updated_datetime, address, lat, long, attributes, channel, email
)
SELECT g, g::text, j.id, svc.ids[1 + g % array_length(svc.ids, 1)],
  CASE WHEN g % 4 = 0 THEN 'open' ELSE 'closed' END,
  (ARRAY['Deep pothole by the curb', 'Graffiti on the bridge wall',
         'Streetlight out near the park', 'Overflowing garbage can at the bus stop',
         'Tree branch blocking the sidewalk', 'Abandoned vehicle on the street',
         'Water main leak at the corner', 'Noise from construction after hours'])[1 + g % 8]
    || ', report ' || g,
  t.requested, LEAST(now(), t.requested + ((g::bigint * 7919) % 720) * interval '1 hour'),
  (g % 9000)::text || ' N Lake St',
  41.68 + ((g::bigint * 104729) % 14000) / 100000.0,
  -88.40 + ((g::bigint * 15485863) % 20000) / 100000.0,
  '{}'::jsonb, 'web', 'resident' || g || '@example.org'
FROM (SELECT array_agg(id ORDER BY id) AS ids FROM services WHERE active) svc,
     (SELECT min(id) AS id FROM jurisdictions) j,
     generate_series(1, :rows) g,
     LATERAL (SELECT date_trunc('second', now() - (:rows - g) * (:span / :rows) * interval '1 second')
              AS requested) t
"""


@dataclass
class Case:
    """One measured query: its gateway URL and the same rows' SQL for PostgreSQL alone."""

    name: str
    path: str
    where: str
    order: str
    limit: int | None
    repeat: int


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cases(repeat: int, rows: int) -> list[Case]:
    now = datetime.now(UTC).replace(microsecond=0)
    start, after = now - timedelta(days=30), now - timedelta(hours=6)
    window90 = now - timedelta(days=90)
    lat, long = DOWNTOWN
    newest = "r.requested_datetime DESC, r.id DESC"
    oldest_change = "r.updated_datetime, r.id"
    return [
        Case(
            "30-day window (1,000 rows)",
            f"/requests.json?start_date={z(start)}&end_date={z(now)}",
            f"r.requested_datetime >= '{start.isoformat()}' AND r.requested_datetime <= '{now.isoformat()}'",
            newest,
            1000,
            repeat,
        ),
        Case(
            "page of 100, updated_after",
            f"/requests.json?updated_after={z(after)}&page_size=100",
            f"r.updated_datetime >= '{after.isoformat()}'",
            oldest_change,
            100,
            repeat,
        ),
        Case(
            "radius 500 m (90-day window)",
            f"/requests.json?lat={lat}&long={long}&radius=500",
            f"r.requested_datetime >= '{window90.isoformat()}' AND r.requested_datetime <= '{now.isoformat()}'"
            f" AND r.location && ST_MakeEnvelope({long - 0.0061}, {lat - 0.0046}, {long + 0.0061}, {lat + 0.0046}, 4326)"
            f" AND ST_DWithin(geography(r.location), geography(ST_SetSRID(ST_MakePoint({long}, {lat}), 4326)), 500, false)",
            newest,
            1000,
            repeat,
        ),
        Case(
            "single request by id",
            f"/requests/{rows // 2}.json",
            f"r.service_request_id = '{rows // 2}'",
            newest,
            None,
            repeat,
        ),
        Case(
            f"full CSV export ({rows:,} rows)",
            "/requests.csv?updated_after=1970-01-01T00:00:00Z",
            "r.updated_datetime >= '1970-01-01T00:00:00+00:00'",
            oldest_change,
            None,
            3,
        ),
    ]


def sql_of(case: Case) -> str:
    limit = f" LIMIT {case.limit}" if case.limit else ""
    return (
        f"SELECT {FIELDS_SQL} FROM service_requests r JOIN services s ON s.id = r.service_pk"
        f" WHERE r.service_request_id IS NOT NULL AND {case.where} ORDER BY {case.order}{limit}"
    )


def psql_median_ms(url: str, sql: str, repeat: int) -> float:
    """Median of psql's own timing of ``json_agg`` over the rows, output discarded."""
    script = "\\timing on\n" + f"SELECT json_agg(t) FROM ({sql}) t;\n" * (repeat + 1)
    out = subprocess.run(
        ["psql", "-X", "-q", "-At", "-d", url, "-o", "/dev/null"],
        input=script,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    times = [float(m) for m in re.findall(r"Time: ([\d.]+) ms", out)][1:]  # first run warms up
    return statistics.median(times)


def rss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+)", text)
    return int(match[1]) if match else 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def measure_http(base: str, case: Case, server_pid: int) -> tuple[float, int, int, int]:
    """Median seconds, rows per answer, and worker RSS (KiB) before and at peak."""
    workers = children(server_pid)
    before = sum(rss_kib(p) for p in workers)
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(rss_kib(p) for p in workers))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    session = requests.Session()
    times, rows = [], 0
    for attempt in range(case.repeat + 1):
        began = time.perf_counter()
        with session.get(base + case.path, stream=True, timeout=600) as response:
            response.raise_for_status()
            if case.path.startswith("/requests.csv"):
                rows = sum(chunk.count(b"\n") for chunk in response.iter_content(1 << 16)) - 1
                body = b""
            else:
                body = response.content
        if attempt:  # the first answer warms caches and connections
            times.append(time.perf_counter() - began)
        if body:  # parsed after the clock stops: the client's JSON parsing is not the server's
            rows = len(json.loads(body))
    done.set()
    watcher.join()
    return statistics.median(times), rows, before, peak[0]


def walk(base: str, expected: int) -> None:
    """Pull the whole history through the change feed, following Link, as a researcher would."""
    url: str | None = f"{base}/requests.json?updated_after=1970-01-01T00:00:00Z&page_size=1000"
    seen: set[str] = set()
    pages = duplicates = 0
    began = time.perf_counter()
    with requests.Session() as session:
        while url:
            response = session.get(url, timeout=60)
            response.raise_for_status()
            for item in response.json():
                duplicates += item["service_request_id"] in seen
                seen.add(item["service_request_id"])
            pages += 1
            link = response.headers.get("Link", "")
            url = link[1 : link.index(">")] if link else None
    print(
        f"\nchange feed walked with Link: {pages} pages, {len(seen):,} distinct requests of "
        f"{expected:,}, {duplicates} seen twice, {time.perf_counter() - began:.0f} s"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(env: dict[str, str], *args: str) -> None:
    subprocess.run([OPEN311, *args], env=env, check=True, capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args()

    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"open311_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    env = {**os.environ, "OPEN311_DATABASE_URL": url, "OPEN311_RATE_LIMITS": "false"}
    server = None
    try:
        run(env, "db", "upgrade")
        run(env, "services", "import", str(ROOT / "fixtures" / "aurora-catalogue.yaml"))
        engine = sa.create_engine(url)
        began = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(
                sa.text(LOAD_SQL), {"rows": options.rows, "span": 5 * 365.25 * 86400}
            )
            connection.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('service_requests', 'id'), :n)"),
                {"n": options.rows},
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE service_requests"))
        print(
            f"loaded {options.rows:,} requests over five years in {time.perf_counter() - began:.0f} s"
        )

        port = free_port()
        server = subprocess.Popen(
            [OPEN311, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}/open311/v2"
        for _ in range(100):
            try:
                requests.get(f"{base}/discovery.json", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.2)

        floor = []
        with requests.Session() as session:
            for attempt in range(options.repeat + 1):
                began = time.perf_counter()
                session.get(
                    f"http://127.0.0.1:{port}/map/static/map.css", timeout=10
                ).raise_for_status()
                if attempt:
                    floor.append(time.perf_counter() - began)
        print(
            "HTTP floor (a static file through gunicorn and Flask, no database): "
            f"{statistics.median(floor) * 1000:.1f} ms"
        )
        print(
            "\n| query | rows | gateway median | gateway rows/s | PostgreSQL alone (json_agg) | ratio |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        memory = []
        for case in cases(options.repeat, options.rows):
            seconds, rows, before, peak = measure_http(base, case, server.pid)
            alone = psql_median_ms(url, sql_of(case), case.repeat) / 1000
            print(
                f"| {case.name} | {rows:,} | {seconds * 1000:.1f} ms | {rows / seconds:,.0f} |"
                f" {alone * 1000:.1f} ms | {seconds / alone:.1f}x |",
                flush=True,
            )
            memory.append((case.name, before, peak))
        walk(base, options.rows)
        print("\nworker memory (RSS of both gunicorn workers): before -> peak")
        for case_name, before, peak in memory:
            print(f"- {case_name}: {before / 1024:.0f} MiB -> {peak / 1024:.0f} MiB")

        print("\nEXPLAIN ANALYZE of each query:")
        with engine.connect() as connection:
            for case in cases(options.repeat, options.rows):
                plan = connection.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {sql_of(case)}"))
                print(f"\n-- {case.name}\n" + "\n".join(row[0] for row in plan))
        engine.dispose()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not options.keep:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {url}")
        admin.dispose()


if __name__ == "__main__":
    main()
