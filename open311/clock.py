"""The gateway's notion of now."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now in UTC, to the second: what is stored is exactly what clients see."""
    return datetime.now(UTC).replace(microsecond=0)
