"""Backoff grows exponentially, with jitter, within bounds; Retry-After is a floor."""

from dataclasses import replace

import pytest

from open311 import create_app
from open311.config import ConfigError, Settings
from open311.dispatch import RETRY_AFTER_LIMIT, backoff

SETTINGS = replace(
    Settings(database_url="sqlite://"), dispatch_backoff=2.0, dispatch_backoff_max=60.0
)


@pytest.mark.parametrize(
    ("attempts", "full"), [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (30, 60.0)]
)
def test_delay_is_between_half_and_all_of_the_exponential_step(attempts, full):
    delays = {backoff(attempts, SETTINGS) for _ in range(200)}
    assert all(full / 2 <= d <= full for d in delays)
    assert len(delays) > 100  # jittered, not in lock step


def test_retry_after_is_a_floor_even_above_the_maximum():
    assert all(backoff(1, SETTINGS, retry_after=120) == 120 for _ in range(20))
    assert backoff(1, SETTINGS, retry_after=10**9) == RETRY_AFTER_LIMIT
    assert all(1.0 <= backoff(1, SETTINGS, retry_after=0) <= 2.0 for _ in range(20))


def test_enabling_a_missing_adapter_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match="OPEN311_ADAPTERS: no adapter named 'nonesuch'"):
        create_app({"database_url": f"sqlite:///{tmp_path}/x.db", "adapters": "local,nonesuch"})
