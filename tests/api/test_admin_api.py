"""The admin key over HTTP: keys listed, created, revoked and expired; deliveries listed and
re-queued. Every other key, and no key, is refused and changes nothing."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from open311 import dispatch
from open311.catalogue import import_catalogue
from open311.clock import utcnow
from open311.extensions import db
from open311.keys import create_key, revoke_key
from open311.models import ApiKey, DispatchJob
from schemas.fields import parse_w3c_datetime
from tests.api.test_key_roles import REQUEST, submit
from tests.api.test_logs import call, captured  # noqa: F401
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import (  # noqa: F401
    department,
    department_backend,
    department_server,
    fast_retries,
    jobs,
    post,
)
from tests.helpers import error_descriptions, json_ok, xml_ok

B = "/open311/v2"
A = f"{B}/admin"
FORMATS = ["json", "xml"]
KEY_FIELDS = [
    "prefix",
    "name",
    "role",
    "vendor",
    "state",
    "created_datetime",
    "expires_datetime",
    "last_used_datetime",
    "revoked_datetime",
]


def documents(response: Any, fmt: str, root: str, status: int = 200) -> list[dict[str, Any]]:
    """The list a JSON or XML answer carries, as dicts (XML: empty elements are ``None``)."""
    if fmt == "json":
        return json_ok(response, status)
    element = xml_ok(response, status)
    assert element.tag == root
    return [{child.tag: child.text for child in item} for item in element]


def refused(response: Any, fmt: str, status: int = 403) -> str:
    assert response.status_code == status, response.data
    expected = "text/xml" if fmt == "xml" else "application/json"
    assert response.headers["Content-Type"] == f"{expected}; charset=utf-8"
    [description] = error_descriptions(response)
    return description


def prefix(secret: str) -> str:
    return secret.split("_")[1]


def stored(secret: str) -> ApiKey:
    db.session.expire_all()
    return db.session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix(secret)))


def key_rows() -> list[tuple[str, str, Any, Any]]:
    db.session.expire_all()
    query = sa.select(ApiKey.prefix, ApiKey.role, ApiKey.expires_at, ApiKey.revoked_at)
    return sorted(db.session.execute(query).all())


def create(client: Any, admin: str, fmt: str = "json", **form: str) -> Any:
    return client.post(f"{A}/keys.{fmt}", data={"api_key": admin, **form})


@pytest.fixture
def admin(app) -> str:
    return create_key("311 center", role="admin")[1]


@pytest.fixture
def streets(app, fast_retries, department) -> dict[str, Any]:  # noqa: F811
    """S0 routed to the department simulator (back end ``streets``), S1 in house."""
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"streets": department_backend(department.url)}
    data["services"][0]["backend"] = "streets"
    import_catalogue(copy.deepcopy(data))
    return data


# -- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_list_shows_every_key_and_never_a_secret_or_hash(client, admin, catalogue, fmt):
    app_key = create_key("Aurora app", expires_at=utcnow() + timedelta(days=30))[1]
    old = create_key("old app")[1]
    revoke_key(prefix(old))
    assert submit(client, app_key).status_code == 200  # records a last use
    response = client.get(f"{A}/keys.{fmt}", query_string={"api_key": admin})
    listed = {item["prefix"]: item for item in documents(response, fmt, "keys")}
    assert set(listed) == {prefix(admin), prefix(app_key), prefix(old)}
    for item in listed.values():
        assert list(item) == KEY_FIELDS
    row = stored(app_key)
    assert listed[row.prefix]["name"] == "Aurora app"
    assert listed[row.prefix]["role"] == "app"
    assert listed[row.prefix]["state"] == "live"
    assert parse_w3c_datetime(listed[row.prefix]["expires_datetime"]) == row.expires_at.replace(
        microsecond=0
    )
    assert listed[row.prefix]["last_used_datetime"] is not None
    assert listed[prefix(old)]["state"] == "revoked"
    assert listed[prefix(old)]["revoked_datetime"] is not None
    assert listed[prefix(admin)]["role"] == "admin"
    for secret in (admin, app_key, old):
        assert secret.encode() not in response.data
        assert secret.split("_", 2)[2].encode() not in response.data
        assert stored(secret).key_hash.encode() not in response.data


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_key_made_over_http_is_shown_once_and_works_for_its_role(client, admin, catalogue, fmt):
    response = create(client, admin, fmt, name="Aurora app", expires="30d")
    [made] = documents(response, fmt, "keys")
    assert list(made) == [*KEY_FIELDS, "secret"]
    secret = made["secret"]
    assert (made["role"], made["name"], made["state"]) == ("app", "Aurora app", "live")
    assert made["prefix"] == prefix(secret)
    expires = parse_w3c_datetime(made["expires_datetime"])
    assert utcnow() + timedelta(days=29) < expires <= utcnow() + timedelta(days=30)
    assert stored(secret).key_hash != secret  # kept as a hash only
    assert submit(client, secret, fmt).status_code == 200
    listing = client.get(f"{A}/keys.{fmt}", query_string={"api_key": admin})
    assert listing.status_code == 200
    assert secret.split("_", 2)[2].encode() not in listing.data
    # The key made over HTTP is an app key only: it manages nothing.
    assert refused(create(client, secret, fmt, name="x"), fmt) == "An app key cannot manage keys."


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_admin_key_made_over_http_manages_keys_but_submits_nothing(
    client, admin, catalogue, fmt
):
    [made] = documents(create(client, admin, fmt, name="deputy", role="admin"), fmt, "keys")
    deputy = made["secret"]
    assert made["role"] == "admin"
    assert refused(submit(client, deputy, fmt), fmt) == "An admin key cannot submit requests."
    listing = client.get(f"{A}/keys.{fmt}", query_string={"api_key": deputy})
    assert len(documents(listing, fmt, "keys")) == 2


def test_a_vendor_key_made_over_http_sees_only_its_back_end(client, admin, streets, api_key):
    routed = post(client, api_key, email="pat@example.org")
    in_house = post(client, api_key, code="S1", email="lee@example.org", **{"attribute[REQ1]": "7"})
    [made] = json_ok(create(client, admin, name="streets crew", role="vendor", vendor="streets"))
    assert (made["role"], made["vendor"]) == ("vendor", "streets")
    vendor = made["secret"]
    seen = json_ok(client.get(f"{B}/requests.json", query_string={"api_key": vendor}))
    assert [r["service_request_id"] for r in seen] == [routed["service_request_id"]]
    assert seen[0]["email"] == "pat@example.org"
    assert in_house["service_request_id"] not in {r["service_request_id"] for r in seen}
    assert refused(submit(client, vendor), "json") == "A vendor key cannot submit requests."


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_key_revoked_over_http_is_refused_afterwards(client, admin, catalogue, api_key, fmt):
    assert submit(client, api_key).status_code == 200
    response = client.post(f"{A}/keys/{prefix(api_key)}/revoke.{fmt}", data={"api_key": admin})
    [row] = documents(response, fmt, "keys")
    assert (row["prefix"], row["state"]) == (prefix(api_key), "revoked")
    assert "secret" not in row
    assert stored(api_key).revoked_at is not None
    assert refused(submit(client, api_key, fmt), fmt) == (
        "This api_key has been revoked; ask the 311 center for a new one."
    )


def test_a_pasted_secret_revokes_its_key_and_is_not_logged(client, admin, api_key, captured):  # noqa: F811
    response = call(client, "post", f"{A}/keys/{api_key}/revoke.json", data={"api_key": admin})
    assert json_ok(response)[0]["prefix"] == prefix(api_key)
    assert stored(api_key).revoked_at is not None
    tail = api_key.split("_", 2)[2]
    assert tail not in captured.text
    assert tail.encode() not in response.data
    [line] = captured.access()
    assert line["path"] == f"{A}/keys/o311_{prefix(api_key)}_[redacted]/revoke.json"


@pytest.mark.parametrize("fmt", FORMATS)
def test_expiry_over_http_at_a_moment_or_after_a_span(client, admin, catalogue, api_key, fmt):
    url = f"{A}/keys/{prefix(api_key)}/expire.{fmt}"
    later = client.post(url, data={"api_key": admin, "at": "2099-06-30T17:00:00-05:00"})
    assert documents(later, fmt, "keys")[0]["expires_datetime"] == "2099-06-30T22:00:00Z"
    assert submit(client, api_key).status_code == 200
    soon = documents(client.post(url, data={"api_key": admin, "in": "2w"}), fmt, "keys")
    expires = parse_w3c_datetime(soon[0]["expires_datetime"])
    assert utcnow() + timedelta(days=13) < expires <= utcnow() + timedelta(days=14)
    assert stored(api_key).expires_at == expires
    past = client.post(url, data={"api_key": admin, "at": "2020-01-01"})
    assert documents(past, fmt, "keys")[0]["state"] == "expired"
    assert refused(submit(client, api_key, fmt), fmt).startswith("This api_key expired on 2020-01")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({}, "Give exactly one of at (a moment) or in (a span such as 30d)."),
        ({"at": "2099-01-01", "in": "1d"}, "Give exactly one of at"),
        ({"in": "0d"}, "in: '0d' is not a duration"),
        ({"in": "soon"}, "in: 'soon' is not a duration"),
        ({"at": "2099-01-01T10:00"}, "at: '2099-01-01T10:00' has no time zone"),
        ({"at": "2099-01-01", "until": "x"}, "until: Unknown field."),
    ],
)
def test_a_bad_expiry_is_a_400_and_changes_nothing(client, admin, api_key, fmt, form, expected):
    before = key_rows()
    response = client.post(
        f"{A}/keys/{prefix(api_key)}/expire.{fmt}", data={"api_key": admin, **form}
    )
    assert refused(response, fmt, 400).startswith(expected)
    assert key_rows() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_and_ambiguous_prefixes_are_404s(client, admin, api_key, fmt):
    for action, form in (("revoke", {}), ("expire", {"in": "1d"})):
        response = client.post(f"{A}/keys/deadbeef/{action}.{fmt}", data={"api_key": admin, **form})
        assert refused(response, fmt, 404) == "No key has the prefix 'deadbeef'."
    twin = create_key("twin")[0]
    twin.prefix = prefix(api_key)
    db.session.commit()
    before = key_rows()
    response = client.post(f"{A}/keys/{prefix(api_key)}/revoke.{fmt}", data={"api_key": admin})
    assert refused(response, fmt, 404).startswith(
        f"Several keys have the prefix '{prefix(api_key)}'"
    )
    assert key_rows() == before


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"name": "x", "role": "root"}, "role: Must be one of: app, vendor, admin."),
        ({"name": "x", "role": "vendor"}, "A vendor key needs vendor: the name of its back end."),
        (
            {"name": "x", "role": "vendor", "vendor": "nowhere"},
            "No back end named 'nowhere'; import the catalogue first.",
        ),
        ({"name": "x", "vendor": "streets"}, "Only vendor keys are bound to a back end"),
        ({"name": "x", "expires": "2020-01-01"}, "The expiry date is in the past."),
        ({"name": "x", "expires": "0d"}, "expires: '0d' is not a W3C datetime"),
        ({"name": "x", "expires": "soon"}, "expires: 'soon' is not a W3C datetime"),
        ({"name": "x", "expires": "2099-01-01T10:00"}, "expires: '2099-01-01T10:00' has no"),
        ({}, "name: Missing data for required field."),
        ({"name": "   "}, "name: Missing data for required field."),
        ({"name": "x" * 201}, "name: Longer than maximum length 200."),
        ({"name": "two\nlines"}, "name: Must be a single line of text."),
        ({"name": "x", "expire": "30d"}, "expire: Unknown field."),
    ],
)
def test_bad_key_input_is_a_400_and_stores_nothing(client, admin, catalogue, fmt, form, expected):
    before = key_rows()
    assert refused(create(client, admin, fmt, **form), fmt, 400).startswith(expected)
    assert key_rows() == before


def test_create_key_itself_checks_the_name(app):
    """The CLI and the HTTP form share these limits (create_key enforces them for both)."""
    for name, message in (
        ("", "needs a name"),
        ("x" * 201, "longer than 200"),
        ("a\nb", "one line"),
    ):
        with pytest.raises(ValueError, match=message):
            create_key(name)
    assert create_key("  padded  ")[0].name == "padded"


# -- who may ------------------------------------------------------------------------------------


def admin_calls(target: str) -> list[tuple[str, str, dict[str, str], str]]:
    """Every admin route: (method, path without the format, form, what it is for)."""
    return [
        ("get", f"{A}/keys", {}, "manage keys"),
        ("post", f"{A}/keys", {"name": "intruder", "role": "admin"}, "manage keys"),
        ("post", f"{A}/keys/{target}/revoke", {}, "manage keys"),
        ("post", f"{A}/keys/{target}/expire", {"at": "2020-01-01"}, "manage keys"),
        ("get", f"{A}/deliveries", {}, "see delivery states"),
        ("post", f"{A}/deliveries/1/retry", {}, "re-queue deliveries"),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_other_keys_and_no_key_are_refused_and_change_nothing(client, app, catalogue, fmt):
    from open311.models import Backend

    db.session.add(Backend(name="streets", adapter="local", settings={}, updated_at=utcnow()))
    db.session.commit()
    app_key = create_key("app")[1]
    vendor = create_key("crew", vendor="streets")[1]
    gone = create_key("old staff", role="admin")[1]
    revoke_key(prefix(gone))
    before = key_rows()
    for method, path, form, what in admin_calls(prefix(app_key)):
        url = f"{path}.{fmt}"
        for key, expected in (
            (app_key, f"An app key cannot {what}."),
            (vendor, f"A vendor key cannot {what}."),
            (gone, "This api_key has been revoked; ask the 311 center for a new one."),
            (None, f"A valid api_key is required to {what}."),
            ("o311_nothing_here", f"The api_key is not valid; a valid key is required to {what}."),
        ):
            given = {"api_key": key} if key else {}
            if method == "get":
                response = client.get(url, query_string=given)
            else:
                response = client.post(url, data={**form, **given})
            assert refused(response, fmt) == expected, (method, url, key)
    assert key_rows() == before


# -- deliveries ---------------------------------------------------------------------------------


@pytest.fixture
def failed_delivery(client, app, fast_retries, api_key, department) -> dict[str, Any]:  # noqa: F811
    """One request whose delivery the department refused for good (a wrong secret)."""
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {"streets": department_backend(department.url, client_secret="wrong")}
    data["services"][0]["backend"] = "streets"
    import_catalogue(copy.deepcopy(data))
    receipt = post(client, api_key, email="pat@example.org", first_name="Pat", phone="630-555-0142")
    assert dispatch.work_once() == "failed"
    return {"catalogue": data, "receipt": receipt}


def deliveries(client: Any, admin: str, fmt: str = "json", **query: Any) -> Any:
    return client.get(f"{A}/deliveries.{fmt}", query_string={"api_key": admin, **query})


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_delivery_is_listed_retried_and_delivered_once(
    client,
    admin,
    failed_delivery,
    department,  # noqa: F811
    fmt,
):
    response = deliveries(client, admin, fmt, state="failed")
    [job] = documents(response, fmt, "deliveries")
    assert (job["service_request_id"], job["backend"], job["state"], job["attempts"]) == (
        failed_delivery["receipt"]["service_request_id"],
        "streets",
        "failed",
        1 if fmt == "json" else "1",
    )
    assert "credentials refused" in job["last_error"]
    assert job["next_attempt_datetime"] is None
    for personal in (b"pat@example.org", b"Pat", b"630-555-0142", b"5550142"):
        assert personal not in response.data
    [stored_job] = jobs()
    assert job["job_id"] == str(stored_job.id)
    key = stored_job.idempotency_key

    # The operator fixes the secret, then re-queues the dead letter over HTTP.
    data = failed_delivery["catalogue"]
    data["backends"]["streets"]["settings"]["client_secret"] = "s3cret"
    import_catalogue(copy.deepcopy(data))
    url = f"{A}/deliveries/{job['job_id']}/retry.{fmt}"
    [queued] = documents(client.post(url, data={"api_key": admin}), fmt, "deliveries")
    assert (queued["job_id"], queued["state"]) == (job["job_id"], "queued")
    assert queued["next_attempt_datetime"] is not None
    assert documents(deliveries(client, admin, fmt, state="failed"), fmt, "deliveries") == []
    assert len(documents(deliveries(client, admin, fmt, state="pending"), fmt, "deliveries")) == 1
    assert dispatch.deliver_pending() == 1
    assert dispatch.deliver_pending() == 0
    [delivered] = jobs()
    assert (delivered.state, delivered.idempotency_key) == ("delivered", key)
    [record] = department.records()
    assert record["key"] == key
    [listed] = documents(deliveries(client, admin, fmt, state="delivered"), fmt, "deliveries")
    assert listed["reference"] == delivered.reference

    # A job that has not failed is not re-queued; nothing changes.
    again = client.post(url, data={"api_key": admin})
    assert refused(again, fmt, 409) == (
        f"Delivery {job['job_id']} is delivered, not failed: only failed ones are re-queued."
    )
    assert jobs()[0].state == "delivered"
    assert len(department.records()) == 1
    for missing in ("999999", "abc", "1" * 30):
        response = client.post(f"{A}/deliveries/{missing}/retry.{fmt}", data={"api_key": admin})
        assert refused(response, fmt, 404).startswith("No delivery")


@pytest.mark.parametrize("fmt", FORMATS)
def test_deliveries_are_newest_first_filtered_and_paged(client, admin, catalogue, set_setting, fmt):
    set_setting(dispatch="manual")  # every job stays queued
    key = create_key("app")[1]
    ids = [json_ok(submit(client, key))[0]["service_request_id"] for _ in range(3)]
    assert dispatch.work_once() == "delivered"  # the oldest
    listed = documents(deliveries(client, admin, fmt), fmt, "deliveries")
    assert [d["service_request_id"] for d in listed] == ids[::-1]
    assert [d["state"] for d in listed] == ["queued", "queued", "delivered"]
    first = documents(deliveries(client, admin, fmt, page_size="2"), fmt, "deliveries")
    second = documents(deliveries(client, admin, fmt, page_size="2", page="2"), fmt, "deliveries")
    assert [d["service_request_id"] for d in first + second] == ids[::-1]
    pending = documents(deliveries(client, admin, fmt, state="pending"), fmt, "deliveries")
    assert len(pending) == 2
    both = deliveries(client, admin, fmt, state=["queued", "delivered"])
    assert len(documents(both, fmt, "deliveries")) == 3
    assert documents(deliveries(client, admin, fmt, state="failed"), fmt, "deliveries") == []
    for query, expected in (
        ({"state": "lost"}, "state[0]: Must be one of"),
        ({"page_size": "1001"}, "page_size: Must be greater than or equal to 1 and less"),
        ({"page": "0"}, "page: Must be greater than or equal to 1"),
        ({"service_code": "S0"}, "service_code: Unknown field."),
    ):
        assert refused(deliveries(client, admin, fmt, **query), fmt, 400).startswith(expected)


def test_deliveries_never_show_personal_fields(client, admin, catalogue, set_setting):
    set_setting(dispatch="manual")
    key = create_key("app")[1]
    form = {**REQUEST, "api_key": key, "email": "kim@example.org", "first_name": "Kimberly"}
    assert client.post(f"{B}/requests.json", data=form).status_code == 200
    response = deliveries(client, admin)
    [job] = json_ok(response)
    assert set(job) == {
        "job_id",
        "service_request_id",
        "backend",
        "adapter",
        "state",
        "attempts",
        "last_error",
        "reference",
        "created_datetime",
        "updated_datetime",
        "next_attempt_datetime",
    }
    assert b"kim@example.org" not in response.data
    assert b"Kimberly" not in response.data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DispatchJob)) == 1


# -- rate limits --------------------------------------------------------------------------------


def test_admin_writes_spend_their_own_budget(app, client, admin, set_setting):
    limiter = app.extensions["open311"]["limiter"]
    limiter.reset()
    set_setting(rate_limits="true", rate_limit_admin="2/hour", rate_limit_get="100/hour")
    try:
        assert [create(client, admin, name=f"k{i}").status_code for i in range(2)] == [200, 200]
        too_many = create(client, admin, name="k3")
        assert too_many.status_code == 429
        assert "Too many requests" in error_descriptions(too_many)[0]
        assert int(too_many.headers["Retry-After"]) >= 1
        # Reads are in the get family, untouched by the writes.
        assert client.get(f"{A}/keys.json", query_string={"api_key": admin}).status_code == 200
        assert len(key_rows()) == 3
    finally:
        limiter.reset()
