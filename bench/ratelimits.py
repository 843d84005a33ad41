"""Benchmark: what the rate limits cost a request, counted in memory and in Redis.

Run by hand (not part of the tests)::

    .venv/bin/python -m bench.ratelimits [--rounds 1500] [--redis redis://127.0.0.1:6379/0]

Three apps share one throwaway SQLite database: limits off (the baseline), counters in
memory, counters in Redis (a prefix of its own, deleted afterwards). Limits are set far above
what the run spends, so every request is counted and none refused. Each round sends the same
request to the three apps in turn, for three requests: ``GET services.json`` (the cheapest
read, where the limiter's share is largest), ``GET requests.json`` with an API key (the key is
looked up once for limiter and view) and ``POST requests.json``. It prints the median time of
each and its ratio to the baseline of the same run: the machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from typing import Any

import redis
from flask_migrate import upgrade

from open311 import create_app
from open311.catalogue import import_catalogue
from open311.keys import create_key
from tests.conftest import TEST_CATALOGUE

B = "/open311/v2"
HIGH = "1000000/minute"


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1500)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"open311-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.sqlite3"
        common = {"database_url": url, "dispatch": "manual"}
        limits = {f"rate_limit_{f}": HIGH for f in ("get", "post", "updates", "subscriptions")}
        apps = {
            "off": create_app({**common, "rate_limits": "false"}),
            "memory": create_app({**common, **limits, "rate_limits": "true"}),
            "redis": create_app(
                {
                    **common,
                    **limits,
                    "rate_limits": "true",
                    "redis_url": args.redis,
                    "rate_limit_prefix": prefix,
                }
            ),
        }
        with apps["off"].app_context():
            upgrade()
            import_catalogue(TEST_CATALOGUE)
            key = create_key("bench")[1]
        clients = {name: app.test_client() for name, app in apps.items()}
        form = {"api_key": key, "service_code": "S0", "lat": "41.76", "long": "-88.32"}
        cases: dict[str, Any] = {
            "GET services.json": lambda c: c.get(f"{B}/services.json"),
            "GET requests.json?api_key": lambda c: c.get(
                f"{B}/requests.json", query_string={"api_key": key, "page_size": "10"}
            ),
            "POST requests.json": lambda c: c.post(f"{B}/requests.json", data=form),
        }
        samples = {(case, name): [] for case in cases for name in clients}
        try:
            for _ in range(args.rounds):
                for case, call in cases.items():
                    for name, client in clients.items():
                        started = time.perf_counter()
                        response = call(client)
                        samples[case, name].append(time.perf_counter() - started)
                        assert response.status_code == 200, response.data
        finally:
            connection = redis.Redis.from_url(args.redis)
            for name in connection.scan_iter(match=f"*{prefix}*"):
                connection.delete(name)
    print(f"{'request':28} {'limits':8} {'median ms':>10} {'ratio':>7}")
    for case in cases:
        base = statistics.median(samples[case, "off"])
        for name in clients:
            median = statistics.median(samples[case, name])
            print(f"{case:28} {name:8} {median * 1000:10.2f} {median / base:7.2f}")


if __name__ == "__main__":
    main()
