"""Changes read back from another GeoReport v2 server (a second gateway on loopback):
the agency and the expected date it reports, and its change feed followed page by page."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from adapters.base import Change
from adapters.open311 import adapter as open311_adapter
from adapters.open311.client import Open311Client
from open311 import create_app, dispatch
from open311.catalogue import import_catalogue
from open311.extensions import db
from open311.keys import create_key
from open311.models import Backend, RequestUpdate, ServiceRequest, SyncCursor
from open311.simulators.server import Running
from open311.sync import apply_change, sync_all
from tests.conftest import TEST_CATALOGUE
from tests.dispatch.conftest import B, jobs, post
from tests.dispatch.test_open311 import forwarded  # noqa: F401  (fixture)

CHICAGO_REPEAT = "2030-11-03T01:30:00"  # happens twice in Chicago; read as CDT (UTC-5)


def there(neighbour, reference, **values):
    """Change the request ``reference`` on the other server, as its staff would."""
    other, _, _ = neighbour
    with other.app_context():
        row = db.session.scalar(
            sa.select(ServiceRequest).where(ServiceRequest.service_request_id == reference)
        )
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()
        db.session.remove()


def shown(client, rid):
    [item] = client.get(f"{B}/requests/{rid}.json").get_json()
    return item


def test_agency_and_expected_date_come_back_by_sync(client, forwarded, neighbour, api_key):  # noqa: F811
    receipt = post(client, api_key, description="Across the line")
    assert dispatch.work_once() == "delivered"
    [job] = jobs()
    changed = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    there(
        neighbour,
        job.reference,
        status_notes="Crew 4 has it",
        agency_responsible="Naperville Public Works",
        expected_datetime=datetime(2030, 11, 4, 17, tzinfo=UTC),
        updated_datetime=changed,
    )
    [result] = sync_all(adapter_name="open311")
    assert result.counts["stored"] == 1
    item = shown(client, receipt["service_request_id"])
    assert item["agency_responsible"] == "Naperville Public Works"
    assert item["expected_datetime"] == "2030-11-04T17:00:00Z"
    assert (item["status"], item["status_notes"]) == ("open", "Crew 4 has it")
    # A later change that does not name an agency or a date leaves both as they were.
    there(
        neighbour,
        job.reference,
        status="closed",
        status_notes="Filled",
        agency_responsible=None,
        expected_datetime=None,
        updated_datetime=changed + timedelta(minutes=1),
    )
    sync_all(adapter_name="open311")
    item = shown(client, receipt["service_request_id"])
    assert (item["status"], item["agency_responsible"]) == ("closed", "Naperville Public Works")
    assert item["expected_datetime"] == "2030-11-04T17:00:00Z"


def test_an_older_change_never_overwrites_a_newer_agency_or_date(
    client,
    forwarded,  # noqa: F811
    neighbour,
    api_key,
):
    receipt = post(client, api_key)
    assert dispatch.work_once() == "delivered"
    [job] = jobs()
    backend = db.session.scalar(sa.select(Backend).where(Backend.name == "naperville"))
    t0 = datetime(2030, 2, 2, 15, tzinfo=UTC)

    def change(minutes, agency, expected):
        return Change(
            reference=job.reference,
            status="open",
            updated=t0 + timedelta(minutes=minutes),
            raw_status="open",
            identity=f"{job.reference}@{minutes}",
            agency=agency,
            expected=expected,
        )

    assert apply_change(backend, change(10, "Crew 7", datetime(2030, 2, 9, tzinfo=UTC))) == "stored"
    # Late, and older: history, not the present.
    assert apply_change(backend, change(5, "Crew 1", datetime(2030, 2, 5, tzinfo=UTC))) == "stored"
    item = shown(client, receipt["service_request_id"])
    assert (item["agency_responsible"], item["expected_datetime"]) == (
        "Crew 7",
        "2030-02-09T00:00:00Z",
    )
    applied = db.session.scalars(
        sa.select(RequestUpdate.applied).order_by(RequestUpdate.updated_datetime)
    ).all()
    assert applied == [False, True]
    # Both stay in the history, each with what its source said, oldest first.
    [detail] = client.get(
        f"{B}/requests/{receipt['service_request_id']}.json", query_string={"extensions": "true"}
    ).get_json()
    said = [
        (u["agency_responsible"], u["expected_datetime"])
        for u in detail["extended_attributes"]["updates"]
    ]
    assert said == [("Crew 1", "2030-02-05T00:00:00Z"), ("Crew 7", "2030-02-09T00:00:00Z")]


def test_wall_times_without_a_zone_are_read_as_chicago(client, forwarded, neighbour, api_key):  # noqa: F811
    """A server that writes local times without an offset (San Francisco's feed does): the
    repeated autumn hour is read as its first (daylight) occurrence, on every poll alike."""
    from adapters.open311 import mapping

    document = {
        "service_request_id": "N-1",
        "status": "open",
        "updated_datetime": CHICAGO_REPEAT,
        "expected_datetime": "2030-11-03T01:45:00",
        "agency_responsible": "  Streets  ",
    }
    first, again = mapping.change(document), mapping.change(dict(document))
    assert first == again
    assert first.updated == datetime(2030, 11, 3, 6, 30, tzinfo=UTC)
    assert first.expected == datetime(2030, 11, 3, 6, 45, tzinfo=UTC)
    assert first.agency == "Streets"
    winter = mapping.change({**document, "updated_datetime": "2030-12-03T13:05:11"})
    assert winter.updated == datetime(2030, 12, 3, 19, 5, 11, tzinfo=UTC)
    unreadable = mapping.change({**document, "expected_datetime": "next Tuesday"})
    assert (unreadable.expected, unreadable.status) == (None, "open")


def forwarded_many(client, api_key, neighbour, count):
    """``count`` requests forwarded, then changed over there one second apart."""
    for n in range(count):
        post(client, api_key, description=f"Request {n}")
    assert dispatch.deliver_pending() == count
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    for n, job in enumerate(jobs()):
        there(
            neighbour,
            job.reference,
            status="closed",
            status_notes=f"Done {n}",
            updated_datetime=base + timedelta(seconds=n),
        )
    return jobs()


@pytest.fixture
def pages_read(monkeypatch):
    """The URLs of every page the adapter reads (a spy on the real client)."""
    read: list[str] = []
    real = Open311Client.get_page

    def spy(self, url, params=None):
        read.append(url)
        return real(self, url, params)

    monkeypatch.setattr(Open311Client, "get_page", spy)
    return read


def closed_here():
    db.session.expire_all()
    query = sa.select(ServiceRequest.status_notes).where(ServiceRequest.status == "closed")
    return sorted(db.session.scalars(query))


def test_every_page_of_the_other_feed_is_read(
    client,
    forwarded,  # noqa: F811
    neighbour,
    api_key,
    monkeypatch,
    pages_read,
):
    monkeypatch.setattr(open311_adapter, "PAGE_SIZE", 2)
    forwarded_many(client, api_key, neighbour, 5)
    [result] = sync_all(adapter_name="open311")
    assert result.error is None
    assert result.counts["stored"] == 5
    assert closed_here() == [f"Done {n}" for n in range(5)]
    assert len(pages_read) >= 3  # five changes two to a page: the Link was followed
    assert len(set(pages_read)) == len(pages_read)
    [again] = sync_all(adapter_name="open311")
    assert (again.counts["stored"], again.counts["duplicate"]) == (0, 5)
    assert db.session.scalar(sa.select(sa.func.count(RequestUpdate.id))) == 5


@pytest.fixture
def own_neighbour(app, fast_retries, set_setting, tmp_path):
    """A neighbour of this test's own, so that its feed holds only this test's requests."""
    other = create_app({"database_url": f"sqlite:///{tmp_path / 'neighbour.sqlite3'}"})
    with other.app_context():
        upgrade()
        import_catalogue(copy.deepcopy(TEST_CATALOGUE))
        key = create_key("aurora gateway")[1]
        db.session.remove()
    running = Running(other)
    set_setting(adapters=("local", "open311"))
    data = copy.deepcopy(TEST_CATALOGUE)
    data["backends"] = {
        "naperville": {
            "adapter": "open311",
            "settings": {"base_url": f"{running.url}/open311/v2", "api_key": key},
        }
    }
    data["jurisdictions"][0]["backend"] = "naperville"
    import_catalogue(data)
    yield other, None, key
    running.stop()


def test_a_pass_stops_at_the_page_cap_and_the_next_goes_on(
    client, own_neighbour, api_key, monkeypatch, pages_read
):
    neighbour = own_neighbour
    monkeypatch.setattr(open311_adapter, "PAGE_SIZE", 2)
    monkeypatch.setattr(open311_adapter, "MAX_PAGES", 2)
    forwarded_many(client, api_key, neighbour, 5)
    [first] = sync_all(adapter_name="open311")
    assert len(pages_read) == 2
    assert first.counts["stored"] < 5
    # The next pass starts at the last change read, not an overlap (600 s) before it.
    cursor = db.session.scalar(sa.select(SyncCursor))
    newest = db.session.scalar(sa.select(sa.func.max(RequestUpdate.updated_datetime)))
    assert cursor.polled_until - timedelta(seconds=600) == newest
    passes = 1
    while len(closed_here()) < 5:
        passes += 1
        assert passes <= 10, closed_here()
        sync_all(adapter_name="open311")
    assert passes > 1
    assert closed_here() == [f"Done {n}" for n in range(5)]
    assert db.session.scalar(sa.select(sa.func.count(RequestUpdate.id))) == 5
