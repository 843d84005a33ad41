"""Key roles (app, vendor, admin), revoked and expired keys, and the record of last use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from open311.clock import utcnow
from open311.extensions import db
from open311.keys import TOUCH_INTERVAL, create_key, expire_key, revoke_key, touch, verify_key
from open311.models import ApiKey, Backend
from tests.helpers import error_descriptions, json_ok

B = "/open311/v2"
FORMATS = ["json", "xml"]
REQUEST = {"service_code": "S0", "lat": "41.76", "long": "-88.32", "description": "x"}


def submit(client: Any, key: str, fmt: str = "json") -> Any:
    return client.post(f"{B}/requests.{fmt}", data={**REQUEST, "api_key": key})


def post_update(client: Any, key: str, request_id: str, fmt: str = "json") -> Any:
    form = {
        "api_key": key,
        "service_request_id": request_id,
        "update_id": f"u-{key[-6:]}",
        "status": "open",
        "updated_datetime": "2026-01-01T10:00:00Z",
        "description": "Seen",
    }
    return client.post(f"{B}/servicerequestupdates.{fmt}", data=form)


def subscribe(client: Any, key: str) -> Any:
    # Loopback is allowed by the fixture below; nothing is ever sent there.
    form = {"api_key": key, "callback_url": "http://127.0.0.1:9/hook", "service_code": "S0"}
    return client.post(f"{B}/subscriptions.json", data=form)


def refused(response: Any, fmt: str = "json") -> str:
    """The one description of a 403 GeoReport error in ``fmt``."""
    assert response.status_code == 403, response.data
    expected = "text/xml" if fmt == "xml" else "application/json"
    assert response.headers["Content-Type"] == f"{expected}; charset=utf-8"
    [description] = error_descriptions(response)
    return description


def stored_key(secret: str) -> ApiKey:
    db.session.expire_all()
    return db.session.scalar(sa.select(ApiKey).where(ApiKey.prefix == secret.split("_")[1]))


@pytest.fixture(autouse=True)
def loopback_callbacks(set_setting: Any) -> None:
    set_setting(subscriptions_allow_private="true")


@pytest.fixture
def request_id(client, catalogue, api_key) -> str:
    return json_ok(submit(client, api_key))[0]["service_request_id"]


@pytest.fixture
def vendor_key(app) -> str:
    db.session.add(Backend(name="streets", adapter="local", settings={}, updated_at=utcnow()))
    db.session.commit()
    return create_key("streets crew", vendor="streets")[1]


def test_an_app_key_submits_updates_and_subscribes(client, api_key, request_id):
    assert stored_key(api_key).role == "app"
    assert post_update(client, api_key, request_id).status_code == 200
    assert subscribe(client, api_key).status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_admin_key_only_reads_delivery_states(client, request_id, fmt):
    admin = create_key("311 center", role="admin")[1]
    assert stored_key(admin).role == "admin"
    assert refused(submit(client, admin, fmt), fmt) == "An admin key cannot submit requests."
    assert refused(post_update(client, admin, request_id, fmt), fmt) == (
        "An admin key cannot post updates."
    )
    assert refused(subscribe(client, admin)) == "An admin key cannot subscribe."
    detail = client.get(
        f"{B}/requests/{request_id}.json", query_string={"extensions": "true", "api_key": admin}
    )
    assert json_ok(detail)[0]["dispatch"]["state"] in ("delivered", "queued")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_vendor_key_neither_submits_nor_subscribes(client, catalogue, vendor_key, fmt):
    assert stored_key(vendor_key).role == "vendor"
    assert refused(submit(client, vendor_key, fmt), fmt) == "A vendor key cannot submit requests."
    assert refused(subscribe(client, vendor_key)) == "A vendor key cannot subscribe."


def test_an_app_key_never_sees_delivery_states(client, api_key, request_id):
    detail = client.get(
        f"{B}/requests/{request_id}.json", query_string={"extensions": "true", "api_key": api_key}
    )
    assert "dispatch" not in json_ok(detail)[0]


def test_reads_need_no_key(client, request_id):
    assert len(json_ok(client.get(f"{B}/requests.json"))) == 1
    assert len(json_ok(client.get(f"{B}/requests/{request_id}.json"))) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_revoked_key_is_refused_everywhere(client, api_key, request_id, fmt):
    revoke_key(api_key.split("_")[1])
    reason = "This api_key has been revoked; ask the 311 center for a new one."
    assert refused(submit(client, api_key, fmt), fmt) == reason
    assert refused(post_update(client, api_key, request_id, fmt), fmt) == reason
    assert refused(subscribe(client, api_key)) == reason
    detail = client.get(
        f"{B}/requests/{request_id}.{fmt}",
        query_string={"extensions": "true", "api_key": api_key},
    )
    assert refused(detail, fmt) == reason
    assert verify_key(api_key) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_expired_key_is_refused(client, api_key, request_id, fmt):
    moment = utcnow() - timedelta(seconds=1)
    expire_key(api_key.split("_")[1], moment)
    reason = refused(submit(client, api_key, fmt), fmt)
    assert reason == (
        f"This api_key expired on {moment:%Y-%m-%d %H:%M}Z; ask the 311 center for a new one."
    )
    assert refused(post_update(client, api_key, request_id, fmt), fmt) == reason
    assert refused(subscribe(client, api_key)) == reason


def test_a_key_works_until_it_expires(client, catalogue):
    key = create_key("pilot", expires_at=utcnow() + timedelta(days=30))[1]
    assert submit(client, key).status_code == 200
    with pytest.raises(ValueError, match="past"):
        create_key("late", expires_at=utcnow() - timedelta(days=1))


def test_unknown_and_missing_keys_say_what_is_needed(client, catalogue):
    assert refused(submit(client, "o311_nothing_here")) == (
        "The api_key is not valid; a valid key is required to submit requests."
    )
    no_key = client.post(f"{B}/requests.json", data=REQUEST)
    assert refused(no_key) == "A valid api_key is required to submit requests."


def test_last_use_is_recorded_without_a_write_per_request(client, catalogue, api_key):
    assert stored_key(api_key).last_used_at is None
    assert submit(client, api_key).status_code == 200
    first = stored_key(api_key).last_used_at
    assert first is not None
    # Used again within the minute: the stored moment stays as it was.
    recent = utcnow() - TOUCH_INTERVAL / 2
    db.session.execute(sa.update(ApiKey).values(last_used_at=recent))
    db.session.commit()
    assert submit(client, api_key).status_code == 200
    assert stored_key(api_key).last_used_at == recent
    # Older than a minute: refreshed by the next use.
    old = utcnow() - TOUCH_INTERVAL * 2
    db.session.execute(sa.update(ApiKey).values(last_used_at=old))
    db.session.commit()
    assert submit(client, api_key).status_code == 200
    assert stored_key(api_key).last_used_at > old


def test_a_stale_copy_never_moves_last_use_backwards(app, api_key):
    row = stored_key(api_key)
    row.last_used_at = utcnow() - TOUCH_INTERVAL * 3
    db.session.commit()
    assert row.last_used_at is not None  # what this worker loaded, long ago
    # Meanwhile another worker recorded a use a moment ago.
    fresh = utcnow() - timedelta(seconds=5)
    with db.engine.begin() as connection:
        connection.execute(sa.update(ApiKey).values(last_used_at=fresh))
    touch(row)
    assert stored_key(api_key).last_used_at == fresh


def test_roles_and_bindings_are_checked_when_keys_are_made(app, vendor_key):
    with pytest.raises(ValueError, match="unknown role"):
        create_key("x", role="root")
    with pytest.raises(ValueError, match="needs its back end"):
        create_key("x", role="vendor")
    with pytest.raises(ValueError, match="only vendor keys"):
        create_key("x", role="admin", vendor="streets")
    with pytest.raises(ValueError, match="not both"):
        create_key("x", admin=True, vendor="streets")
    assert create_key("legacy flag", admin=True)[0].role == "admin"
