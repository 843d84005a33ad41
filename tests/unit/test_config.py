"""Settings are read once and fail loudly on bad values."""

import pytest

from open311.config import ConfigError, load_settings


def test_defaults_use_embedded_sqlite(tmp_path):
    settings = load_settings(str(tmp_path), environ={})
    assert settings.database_url == f"sqlite:///{tmp_path}/open311.sqlite3"
    assert settings.max_requests == 1000
    assert settings.window_days == 90
    assert "630-256-4636" in settings.contact


def test_adapters_and_dispatch_settings_are_read(tmp_path):
    settings = load_settings(
        str(tmp_path),
        environ={
            "OPEN311_ADAPTERS": "local, department,local",
            "OPEN311_DISPATCH_BACKOFF": "0.5",
            "OPEN311_DISPATCH_MAX_ATTEMPTS": "3",
        },
    )
    assert settings.adapters == ("local", "department")
    assert settings.dispatch_backoff == 0.5
    assert settings.dispatch_max_attempts == 3
    assert load_settings(str(tmp_path), environ={}).adapters == ("local",)


def test_environment_is_read(tmp_path):
    settings = load_settings(
        str(tmp_path),
        environ={
            "OPEN311_DATABASE_URL": "postgresql://db/open311",
            "OPEN311_MAX_REQUESTS": "50",
            "OPEN311_ENDPOINT_TYPE": "test",
            "OPEN311_PUBLIC_URL": "https://311.aurora-il.org/",
        },
    )
    assert settings.database_url == "postgresql://db/open311"
    assert settings.max_requests == 50
    assert settings.endpoint_type == "test"
    assert settings.public_url == "https://311.aurora-il.org"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPEN311_MAX_REQUESTS", "lots", "must be an integer"),
        ("OPEN311_WINDOW_DAYS", "0", "must be positive"),
        ("OPEN311_ENDPOINT_TYPE", "staging", "must be one of"),
        ("OPEN311_DISPATCH", "later", "must be one of"),
        ("OPEN311_DISPATCH_BACKOFF", "soon", "must be a number"),
        ("OPEN311_DISPATCH_LEASE", "-1", "must be positive"),
        ("OPEN311_DISPATCH_BACKOFF_MAX", "inf", "must be positive"),
        ("OPEN311_ADAPTERS", "local,Bad Name", "comma list of adapter names"),
        ("OPEN311_ADAPTERS", " , ", "comma list of adapter names"),
        ("OPEN311_PUBLIC_URL", "ftp://x", "http"),
        ("OPEN311_DATABASE_URL", "open311.db", "not a database URL"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(str(tmp_path), environ={name: value})
    assert name in str(info.value)


def test_unknown_override_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(str(tmp_path), environ={}, overrides={"colour": "blue"})


def test_feed_and_map_settings(tmp_path):
    settings = load_settings(
        str(tmp_path),
        environ={
            "OPEN311_MAX_PAGE_SIZE": "250",
            "OPEN311_MAP_TILES": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        },
    )
    assert settings.max_page_size == 250
    assert settings.map_tiles == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert load_settings(str(tmp_path), environ={}).map_tiles is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("OPEN311_MAX_PAGE_SIZE", "0"), ("OPEN311_MAP_TILES", "javascript:alert(1)")],
)
def test_bad_feed_and_map_settings_are_refused(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(str(tmp_path), environ={name: value})


def test_sync_interval_below_a_minute_is_refused_on_postgresql(tmp_path):
    pg = {"OPEN311_DATABASE_URL": "postgresql://db/open311", "OPEN311_SYNC_INTERVAL": "30"}
    with pytest.raises(ConfigError, match="OPEN311_SYNC_INTERVAL must be at least 60 seconds"):
        load_settings(str(tmp_path), environ=pg)
    with pytest.raises(ConfigError, match="procrastinate periodic task"):
        load_settings(str(tmp_path), environ={}, overrides=pg_overrides(sync_interval=59.9))
    assert (
        load_settings(str(tmp_path), environ={**pg, "OPEN311_SYNC_INTERVAL": "90"}).sync_interval
        == 90
    )
    assert (
        load_settings(str(tmp_path), environ={"OPEN311_SYNC_INTERVAL": "0.5"}).sync_interval == 0.5
    )


def pg_overrides(**values):
    return {"database_url": "postgresql://db/open311", **values}
