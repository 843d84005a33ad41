"""mySociety's extended statuses, and how each back end's own statuses map onto them.

The core GeoReport status is only ``open`` or ``closed``; FixMyStreet-style clients read and
write the finer set of georeport-v2.md §2.9, lower case on output, upper case on input. The
core status is always derived from the extended one, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Extended statuses that leave a request open.
OPEN = frozenset(
    {"open", "in_progress", "planned", "action_scheduled", "investigating", "reopen", "for_triage"}
)
#: Extended statuses that close a request.
CLOSED = frozenset(
    {
        "closed",
        "fixed",
        "duplicate",
        "not_councils_responsibility",
        "no_further_action",
        "internal_referral",
        "cancelled",
    }
)
#: A note without a change of status.
UNCHANGED = "unchanged"
EXTENDED = OPEN | CLOSED | {UNCHANGED}

#: Each adapter's vendor status -> extended status, used unless a back end's catalogue entry
#: gives its own ``statuses`` table (vendors.md §5.1 and §5.2).
DEFAULT_TABLES: dict[str, dict[str, str]] = {
    "department": {
        "received": "open",
        "triaged": "for_triage",
        "assigned": "action_scheduled",
        "in_progress": "in_progress",
        "on_hold": "investigating",
        "completed": "fixed",
        "closed_duplicate": "duplicate",
        "closed_not_actionable": "no_further_action",
        "cancelled": "cancelled",
    },
    "open311": {"open": "open", "closed": "closed"},
    "citysourced": {
        "Open": "open",
        "Received": "open",
        "In Progress": "in_progress",
        "On Hold": "investigating",
        "Closed": "closed",
        "Duplicate": "duplicate",
        "Not City Responsibility": "not_councils_responsibility",
        "Cancelled": "cancelled",
    },
}


def core_status(extended: str) -> str | None:
    """``open`` or ``closed`` for an extended status; ``None`` for ``unchanged``."""
    if extended in OPEN:
        return "open"
    if extended in CLOSED:
        return "closed"
    if extended == UNCHANGED:
        return None
    raise ValueError(f"unknown extended status {extended!r}")


def check_table(table: Any) -> list[str]:
    """Problems with a configured ``statuses`` table (vendor status -> extended status)."""
    if not isinstance(table, Mapping):
        return ["statuses: must map each vendor status to an extended status"]
    return [
        f"statuses.{vendor}: {target!r} is not one of {', '.join(sorted(EXTENDED))}"
        for vendor, target in table.items()
        if not isinstance(vendor, str) or target not in EXTENDED
    ]


def reverse_table(adapter: str, configured: Mapping[str, str] | None = None) -> dict[str, str]:
    """The vendor -> extended table of a back end: its own if configured, else the default."""
    if configured:
        return dict(configured)
    return dict(DEFAULT_TABLES.get(adapter, {}))


def forward_table(reverse: Mapping[str, str]) -> dict[str, str]:
    """Extended -> vendor status, for telling a back end of a change: the first vendor status
    that maps to each extended status wins (the tables list the canonical one first)."""
    forward: dict[str, str] = {}
    for vendor, extended in reverse.items():
        forward.setdefault(extended, vendor)
    return forward
