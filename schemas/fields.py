"""Field types shared by the wire schemas."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields

# Date, optional time with optional fraction, then Z or an offset with or without a colon.
_W3C = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(?P<tz>Z|z|[+\- ]\d{2}:?\d{2})?)?$"
)


def parse_w3c_datetime(text: str, *, allow_date_only: bool = True) -> datetime:
    """Parse a W3C/ISO 8601 datetime that carries a time zone.

    Accepts ``Z``, ``+hh:mm`` and ``+hhmm`` offsets and fractional seconds; a bare date
    ``YYYY-MM-DD`` means midnight UTC when ``allow_date_only`` is set. A time without a zone is
    refused: guessing one would shift residents' reports by hours.

    :raises ValueError: when the text is not such a datetime.
    """
    match = _W3C.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a W3C datetime such as 2026-01-31T08:00:00Z")
    if match["time"] is None:
        if not allow_date_only:
            raise ValueError(f"{text!r} has no time; give e.g. {text.strip()}T00:00:00Z")
        try:
            return datetime.fromisoformat(match["date"]).replace(tzinfo=UTC)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid date: {exc}") from None
    if match["tz"] is None:
        raise ValueError(f"{text!r} has no time zone; add Z or an offset such as -06:00")
    # An unescaped "+" in a query string arrives as a space; read it as the "+" it was.
    tz = "+00:00" if match["tz"] in "Zz" else match["tz"].replace(" ", "+")
    if ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    fraction = ""
    time = match["time"]
    if "." in time:
        time, fraction = time.split(".")
        fraction = "." + fraction[:6].ljust(6, "0")
    try:
        value = datetime.fromisoformat(f"{match['date']}T{time}{fraction}{tz}")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date and time: {exc}") from None
    try:
        # Every comparison and every stored value is in UTC: 0001-01-01T00:00+05:00 has none.
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range once converted to UTC") from None
    return value


def format_w3c_datetime(value: datetime) -> str:
    """Render an aware datetime as ``YYYY-MM-DDThh:mm:ssZ`` (UTC, no fraction)."""
    # isoformat is several times faster than strftime, which counts in million-row exports.
    return value.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


class W3CDateTime(fields.Field):
    """A GeoReport datetime: dumped in UTC with ``Z``, loaded with a mandatory zone."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_w3c_datetime(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("Not a valid datetime.")
        try:
            return parse_w3c_datetime(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
