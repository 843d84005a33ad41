"""``open311 keys``: create with a role and an expiry, list, revoke, expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from open311.clock import utcnow
from open311.extensions import db
from open311.keys import verify_key
from open311.models import ApiKey


def run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["keys", *args])


def make(app: Any, *args: str) -> str:
    result = run(app, "create", *args)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def stored(secret: str) -> ApiKey:
    db.session.expire_all()
    return db.session.scalar(sa.select(ApiKey).where(ApiKey.prefix == secret.split("_")[1]))


def test_list_shows_every_key_and_never_a_secret(app):
    app_key = make(app, "--name", "Aurora app", "--expires", "30d")
    staff = make(app, "--name", "311 center", "--role", "admin")
    assert verify_key(app_key) is not None  # records a last use
    listing = run(app, "list")
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0].split()[:3] == ["PREFIX", "ROLE", "VENDOR"]
    for secret, role, name in ((app_key, "app", "Aurora app"), (staff, "admin", "311 center")):
        row = stored(secret)
        [line] = [line for line in lines if line.startswith(row.prefix)]
        assert line.split()[1] == role
        assert line.endswith(name)
        assert secret not in listing.output
        assert secret.split("_", 2)[2] not in listing.output
        assert row.key_hash not in listing.output
    [app_line] = [line for line in lines if line.startswith(stored(app_key).prefix)]
    expires = stored(app_key).expires_at
    assert f"{expires:%Y-%m-%d %H:%M}Z" in app_line
    assert f"{stored(app_key).last_used_at:%Y-%m-%d %H:%M}Z" in app_line


def test_list_without_keys_says_how_to_make_one(app):
    result = run(app, "list")
    assert result.exit_code == 0
    assert "open311 keys create" in result.output


def test_revoke_refuses_the_key_at_once(app):
    secret = make(app, "--name", "old app")
    prefix = secret.split("_")[1]
    result = run(app, "revoke", prefix)
    assert result.exit_code == 0, result.output
    assert f"Key {prefix} ('old app') revoked" in result.output
    assert verify_key(secret) is None
    assert "(refused)" in run(app, "list").output


def test_unknown_prefixes_are_clear_errors(app):
    for command in (["revoke", "deadbeef"], ["expire", "deadbeef", "--in", "1d"]):
        result = run(app, *command)
        assert result.exit_code == 1
        assert "no key has the prefix 'deadbeef'; see open311 keys list" in result.output


def test_a_pasted_secret_is_read_as_its_prefix_and_never_echoed(app):
    secret = make(app, "--name", "pasted")
    result = run(app, "revoke", secret)
    assert result.exit_code == 0, result.output
    assert secret.split("_", 2)[2] not in result.output
    assert verify_key(secret) is None


def test_expire_at_a_moment_or_after_a_span(app):
    secret = make(app, "--name", "pilot")
    prefix = secret.split("_")[1]
    later = run(app, "expire", prefix, "--at", "2099-06-30T17:00:00-05:00")
    assert later.exit_code == 0, later.output
    assert "expires 2099-06-30 22:00Z" in later.output
    assert stored(secret).expires_at == datetime(2099, 6, 30, 22, 0, tzinfo=UTC)
    assert verify_key(secret) is not None
    soon = run(app, "expire", prefix, "--in", "2w")
    assert soon.exit_code == 0, soon.output
    expires = stored(secret).expires_at
    assert utcnow() + timedelta(days=13) < expires <= utcnow() + timedelta(days=14)
    past = run(app, "expire", prefix, "--at", "2020-01-01")
    assert past.exit_code == 0
    assert verify_key(secret) is None


def test_expire_needs_exactly_one_good_moment(app):
    prefix = make(app, "--name", "pilot").split("_")[1]
    for args in ([], ["--at", "2099-01-01", "--in", "1d"]):
        result = run(app, "expire", prefix, *args)
        assert result.exit_code == 2
        assert "exactly one of --at" in result.output
    for args in (["--in", "soon"], ["--at", "2099-01-01T10:00"], ["--in", "0d"]):
        result = run(app, "expire", prefix, *args)
        assert result.exit_code == 2, result.output
    assert stored(make(app, "--name", "other")).expires_at is None


def test_create_checks_role_vendor_and_expiry(app):
    for args, message in (
        (["--role", "vendor"], "needs its back end"),
        (["--role", "app", "--vendor", "streets"], "only vendor keys"),
        (["--admin", "--vendor", "streets"], "not both"),
        (["--expires", "2020-01-01"], "in the past"),
    ):
        result = run(app, "create", "--name", "x", *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0
    bad_role = run(app, "create", "--name", "x", "--role", "root")
    assert bad_role.exit_code == 2
