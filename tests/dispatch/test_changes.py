"""Fetching changes since a time from the vendor and the department."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from adapters.base import Outbound
from adapters.citysourced import CitySourcedAdapter
from adapters.department import DepartmentAdapter
from tests.dispatch.conftest import citysourced_backend, department_backend


def outbound(n: int) -> Outbound:
    return Outbound(
        service_request_id=f"A-{n}",
        service_code="S0",
        service_name="Pothole",
        jurisdiction_id="aurora-il.org",
        requested_datetime=datetime.now(UTC),
        idempotency_key=f"key-{n}",
        description="hole",
        lat=41.7,
        long=-88.3,
    )


def test_department_changes_since(department):
    adapter = DepartmentAdapter(department_backend(department.url)["settings"])
    first = adapter.create(outbound(1)).reference
    second = adapter.create(outbound(2)).reference
    for record_id, status in ((first, "in_progress"), (second, "closed_duplicate")):
        requests.post(
            f"{department.url}/_sim/records/{record_id}/status",
            json={"status": status, "public_note": "Crew Thursday", "at": "2030-01-01T10:00:00Z"},
            timeout=5,
        ).raise_for_status()
    changes = adapter.changes_since(datetime(2029, 12, 31, tzinfo=UTC))
    adapter.close()
    assert [(c.reference, c.status, c.raw_status) for c in changes] == [
        (first, "open", "in_progress"),
        (second, "closed", "closed_duplicate"),
    ]
    assert changes[0].notes == "Crew Thursday"
    assert changes[0].updated == datetime(2030, 1, 1, 10, tzinfo=UTC)


def test_citysourced_changes_since_in_chicago_time(citysourced):
    adapter = CitySourcedAdapter(citysourced_backend(citysourced.url)["settings"])
    first = adapter.create(outbound(1)).reference
    second = adapter.create(outbound(2)).reference
    for report_id, status in ((first, "Closed"), (second, "Pending Review")):
        requests.post(
            f"{citysourced.url}/_sim/reports/{report_id}/status",
            json={"status": status, "sla": "Done", "at": "2030-06-01T08:30:00"},
            timeout=5,
        ).raise_for_status()
    changes = adapter.changes_since(datetime(2030, 6, 1, 13, tzinfo=UTC) - timedelta(minutes=1))
    adapter.close()
    # 08:30 in Chicago (CDT) is 13:30 UTC; the unmapped status is reported, not guessed.
    assert [(c.reference, c.status, c.raw_status, c.updated) for c in changes] == [
        (first, "closed", "Closed", datetime(2030, 6, 1, 13, 30, tzinfo=UTC)),
        (second, None, "Pending Review", datetime(2030, 6, 1, 13, 30, tzinfo=UTC)),
    ]
