"""Rate limits: one budget per endpoint family, per key and client address, 429 + Retry-After.

The shared test apps run with the limits off; each test here turns them on with small
hourly limits (an hour-long window never runs out during a test) and empties the counters
before and after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from open311 import create_app
from open311.config import ConfigError, load_settings
from open311.keys import create_key
from tests.helpers import error_descriptions

B = "/open311/v2"
POST_FORM = {"service_code": "S0", "lat": "41.76", "long": "-88.32", "description": "x"}
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def limited(app: Flask, set_setting: Any) -> Iterator[Any]:
    """The limits on: GET 5/hour, POST 2/hour, updates 1/hour, subscriptions 1/hour."""
    limiter = app.extensions["open311"]["limiter"]
    limiter.reset()
    set_setting(
        rate_limits="true",
        rate_limit_get="5/hour",
        rate_limit_post="2/hour",
        rate_limit_updates="1/hour",
        rate_limit_subscriptions="1/hour",
    )
    yield limiter
    limiter.reset()


def post(client: Any, key: str, fmt: str = "json", address: str = "127.0.0.1") -> Any:
    return client.post(
        f"{B}/requests.{fmt}",
        data={**POST_FORM, "api_key": key},
        environ_base={"REMOTE_ADDR": address},
    )


def get(client: Any, fmt: str = "json", address: str = "127.0.0.1", **query: str) -> Any:
    return client.get(
        f"{B}/requests.{fmt}", query_string=query, environ_base={"REMOTE_ADDR": address}
    )


def assert_too_many(response: Any, fmt: str = "json") -> list[str]:
    assert response.status_code == 429, response.data
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 3600
    expected = "text/xml" if fmt == "xml" else "application/json"
    assert response.headers["Content-Type"] == f"{expected}; charset=utf-8"
    descriptions = error_descriptions(response)
    assert "Too many requests" in descriptions[0]
    assert f"{wait} seconds" in descriptions[0]
    return descriptions


def test_post_budget_is_tighter_than_get(client, catalogue, api_key, limited):
    assert [post(client, api_key).status_code for _ in range(2)] == [200, 200]
    assert_too_many(post(client, api_key))
    # Reads have their own, larger budget, untouched by the POSTs.
    assert [get(client).status_code for _ in range(5)] == [200] * 5
    assert_too_many(get(client))


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_429_is_a_georeport_error_with_retry_after(client, catalogue, api_key, limited, fmt):
    for _ in range(2):
        assert post(client, api_key, fmt).status_code == 200
    descriptions = assert_too_many(post(client, api_key, fmt), fmt)
    assert "2 per 1 hour" in descriptions[0]
    for _ in range(5):
        get(client, fmt)
    assert_too_many(get(client, fmt), fmt)


def test_each_key_and_each_address_has_its_own_budget(client, catalogue, api_key, limited):
    other_key = create_key("second app")[1]
    for _ in range(2):
        assert post(client, api_key).status_code == 200
    assert post(client, api_key).status_code == 429
    assert post(client, other_key).status_code == 200
    assert post(client, api_key, address="192.0.2.7").status_code == 200
    assert post(client, api_key).status_code == 429


def test_an_invalid_key_buys_no_fresh_budget(client, catalogue, limited):
    for _ in range(5):
        assert get(client).status_code == 200
    assert get(client).status_code == 429
    assert get(client, api_key="o311_made_up").status_code == 429


def test_updates_and_subscriptions_have_their_own_budgets(client, catalogue, api_key, limited):
    first = client.post(f"{B}/servicerequestupdates.json", data={"api_key": api_key})
    assert first.status_code == 400
    assert_too_many(client.post(f"{B}/servicerequestupdates.json", data={"api_key": api_key}))
    subscribe = {"api_key": api_key, "callback_url": "https://apps.example/hook"}
    assert client.post(f"{B}/subscriptions.json", data=subscribe).status_code == 400
    assert_too_many(client.post(f"{B}/subscriptions.json", data=subscribe))
    assert post(client, api_key).status_code == 200


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(client, catalogue, limited):
    for _ in range(5):
        assert get(client).status_code == 200
    spoofed = client.get(f"{B}/requests.json", headers={"X-Forwarded-For": "198.51.100.1"})
    assert spoofed.status_code == 429


def test_a_trusted_proxy_names_the_client(app, catalogue):
    behind = create_app(
        {
            "database_url": app.config["SQLALCHEMY_DATABASE_URI"],
            "rate_limits": "true",
            "rate_limit_get": "1/hour",
            "trusted_proxies": "1",
        }
    )
    client = behind.test_client()

    def via_proxy(address: str) -> int:
        headers = {"X-Forwarded-For": address}
        return client.get(f"{B}/requests.json", headers=headers).status_code

    assert via_proxy("198.51.100.1") == 200
    assert via_proxy("198.51.100.1") == 429
    assert via_proxy("198.51.100.2") == 200
    with behind.app_context():
        from open311.extensions import db

        db.engine.dispose()


def test_the_secret_never_names_a_counter(client, catalogue, api_key, limited):
    assert post(client, api_key).status_code == 200
    counters = list(limited.storage.storage)
    assert counters
    prefix = api_key.split("_")[1]
    assert any(f"key:{prefix}" in name for name in counters)
    assert not any(api_key.split("_", 2)[2] in name for name in counters)


def test_limits_off_means_no_429(client, catalogue, api_key, limited, set_setting):
    set_setting(rate_limits="false", rate_limit_post="1/hour")
    assert [post(client, api_key).status_code for _ in range(3)] == [200] * 3


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A counter prefix of this test's own on the shared Redis; its keys are deleted after."""
    prefix = f"open311-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    for name in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(name)
    connection.close()


def test_two_servers_share_one_count_in_redis(app, catalogue, api_key, redis_prefix):
    settings = {
        "database_url": app.config["SQLALCHEMY_DATABASE_URI"],
        "redis_url": REDIS_URL,
        "rate_limit_prefix": redis_prefix,
        "rate_limits": "true",
        "rate_limit_get": "3/hour",
    }
    first, second = create_app(settings), create_app(settings)
    one, two = first.test_client(), second.test_client()
    path = f"{B}/discovery.json"
    assert [one.get(path).status_code, two.get(path).status_code] == [200, 200]
    assert one.get(path).status_code == 200
    assert_too_many(two.get(path))
    assert_too_many(one.get(path))
    # A key's budget is its own on both servers, named by its prefix only.
    assert two.get(path, query_string={"api_key": api_key}).status_code == 200
    names = [n.decode() for n in redis.Redis.from_url(REDIS_URL).scan_iter(f"*{redis_prefix}*")]
    assert any(f"key:{api_key.split('_')[1]}" in n for n in names)
    assert not any(api_key.split("_", 2)[2] in n for n in names)
    for each in (first, second):
        with each.app_context():
            from open311.extensions import db

            db.engine.dispose()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPEN311_RATE_LIMIT_POST", "lots"),
        ("OPEN311_RATE_LIMIT_GET", "0/minute"),
        ("OPEN311_RATE_LIMIT_UPDATES", "5/fortnight"),
        ("OPEN311_RATE_LIMIT_SUBSCRIPTIONS", "-3/hour"),
        ("OPEN311_RATE_LIMIT_ADMIN", "often"),
        ("OPEN311_RATE_LIMITS", "maybe"),
        ("OPEN311_TRUSTED_PROXIES", "-1"),
        ("OPEN311_REDIS_URL", "http://127.0.0.1:6379"),
        ("OPEN311_RATE_LIMIT_PREFIX", "has spaces"),
    ],
)
def test_bad_rate_limit_settings_stop_start_up(tmp_path, variable, value):
    with pytest.raises(ConfigError, match=variable):
        load_settings(str(tmp_path), environ={variable: value})


def test_good_rate_limit_settings_are_kept(tmp_path):
    settings = load_settings(
        str(tmp_path),
        environ={
            "OPEN311_RATE_LIMIT_POST": "10 per minute;100/day",
            "OPEN311_TRUSTED_PROXIES": "2",
            "OPEN311_REDIS_URL": REDIS_URL,
        },
    )
    assert settings.rate_limit_post == "10 per minute;100/day"
    assert settings.trusted_proxies == 2
    assert settings.redis_url == REDIS_URL
    defaults = load_settings(str(tmp_path), environ={})
    assert (defaults.rate_limits, defaults.rate_limit_get) == ("true", "600/minute")


def test_reading_the_key_from_the_form_keeps_the_body_checks(client, catalogue, api_key, limited):
    body = f"api_key={api_key}&service_code=S0&lat=41.76&long=-88.32&description=%FF"
    response = client.post(
        f"{B}/requests.json", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "UTF-8" in error_descriptions(response)[0]
    # Refused before the view (and its limit) is reached: the budget of 2 is whole.
    assert [post(client, api_key).status_code for _ in range(3)] == [200, 200, 429]


def test_without_redis_each_server_counts_alone_and_keeps_serving(app, catalogue, caplog):
    lonely = create_app(
        {
            "database_url": app.config["SQLALCHEMY_DATABASE_URI"],
            "redis_url": "redis://127.0.0.1:1/0",  # nothing listens there
            "rate_limits": "true",
            "rate_limit_get": "2/hour",
        }
    )
    client = lonely.test_client()
    codes = [client.get(f"{B}/discovery.json").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert "falling back to in-memory storage" in caplog.text
    with lonely.app_context():
        from open311.extensions import db

        db.engine.dispose()
