"""Crash test: SIGKILL the server and the worker in the middle of a storm, restart, verify.

Run by hand (not in CI), from the checkout with the bench extras installed::

    .venv/bin/python -m bench.crash --duration 60s --kills 3

The set-up is :mod:`bench.load`'s (throwaway PostgreSQL/PostGIS database, simulators,
``open311 serve`` with two gunicorn workers, one ``open311 worker``). During the storm it
kills the process groups of gunicorn (master and workers) and of the worker with SIGKILL,
``--kills`` times at even intervals, and starts them again. After the storm and the drain it
checks that every POST answered 200 is stored and delivered exactly once (the simulators'
records), and that nothing is half-written (:mod:`bench.integrity`), whatever happened to
the POSTs answered 5xx or not at all. It prints PASS or FAIL and exits 1 on failure.
"""

from __future__ import annotations

from bench.load import Gateway, Outcome, drained, gateway, storm, storm_parser  # isort: skip

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import gevent

from bench.load import delivery_check

#: A killed worker's delivery is taken over when its lease runs out: seconds, not minutes.
SETTINGS = {"OPEN311_DISPATCH_LEASE": "10", "OPEN311_DISPATCH_BACKOFF": "0.5"}


def crash(gw: Gateway, kills: list[float]) -> None:
    """SIGKILL both process groups, then start them again; the time it took goes in ``kills``."""
    started = time.perf_counter()
    gw.kill("serve")
    gw.kill("worker")
    gw.start_worker()
    gw.start_server()
    kills.append(time.perf_counter() - started)


def main() -> None:
    parser = storm_parser(__doc__.splitlines()[0], duration=60.0)
    parser.add_argument("--kills", type=int, default=3, help="crashes during the storm")
    args = parser.parse_args()
    downtime: list[float] = []

    def crashes() -> None:
        gap = args.duration / (args.kills + 1)
        for _ in range(args.kills):
            gevent.sleep(gap)
            crash(gw, downtime)

    with (
        tempfile.TemporaryDirectory() as directory,
        gateway(args.postgres, Path(directory), SETTINGS) as gw,
    ):
        outcome = Outcome()
        figures = storm(gw, args.users, args.duration, outcome=outcome, during=crashes)
        drain = drained(gw)
        problems = delivery_check(gw, outcome.accepted())
    statuses = Counter(status for status, _, _ in outcome.posts)
    print(
        f"{figures['requests']:.0f} requests in the storm ({figures['per_s']:.1f}/s), "
        f"{figures['errors']:.0f} failed; POSTs by answer (0: none): {dict(statuses)}"
    )
    print(
        f"{len(downtime)} crashes, server and worker back in "
        f"{', '.join(f'{s:.1f}s' for s in downtime)}; drained {drain:.1f}s after the storm"
    )
    for problem in problems[:20]:
        print(f"  {problem}")
    accepted = len(outcome.accepted())
    if problems:
        print(f"FAIL: {len(problems)} problem(s) among {accepted} requests answered 200")
        sys.exit(1)
    print(
        f"PASS: {accepted} requests answered 200 are each delivered exactly once; "
        "nothing half-written"
    )


if __name__ == "__main__":
    main()
