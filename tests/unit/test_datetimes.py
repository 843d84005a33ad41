"""W3C datetime parsing and emission (spec §1.3, §3.26)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from schemas.fields import W3CDateTime, format_w3c_datetime, parse_w3c_datetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T08:00:00Z", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T08:00:00.123456Z", datetime(2026, 1, 31, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-31T02:00:00-06:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T02:00:00-0600", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T14:00:00 06:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),  # "+" sent unescaped
        ("2026-01-31T08:00Z", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_w3c_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-31T08:00:00",
        "31/01/2026",
        "not-a-date",
        "2026-02-30T00:00:00Z",
        "2026-01-31T25:00:00Z",
        "",
    ],
)
def test_refused_forms(text):
    with pytest.raises(ValueError, match=r"2026|W3C|valid|zone"):
        parse_w3c_datetime(text)


def test_date_only_can_be_refused():
    with pytest.raises(ValueError, match="no time"):
        parse_w3c_datetime("2026-01-31", allow_date_only=False)


def test_emitted_in_utc_without_fraction():
    chicago = timezone(timedelta(hours=-6))
    value = datetime(2026, 1, 31, 2, 0, 0, 999999, tzinfo=chicago)
    assert format_w3c_datetime(value) == "2026-01-31T08:00:00Z"


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
)
def test_inbound_datetimes_at_the_ends_of_the_calendar_are_refused(text):
    # Found by schemathesis: end_date=0001-01-01T00:00:00Z overflowed the window arithmetic (500).
    with pytest.raises(ValidationError, match="out of range"):
        W3CDateTime().deserialize(text)
