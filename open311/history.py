"""Importing another system's request history (``open311 requests import FILE|URL``).

All or nothing: every record is checked first and, if any cannot be imported, each fault is
reported with its line (or record number) and nothing is written. Re-running the same feed
finds its requests again by (source, original id) and only applies what changed.

Ids: a request keeps its original id unless that id is already taken by another request, in
which case it is published as ``SOURCE:ID``. A numeric id is also given the same internal
key where that key is free, so that the gateway's own future ids (the next key) continue
after it instead of colliding with it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import sqlalchemy as sa
from flask.cli import with_appcontext
from sqlalchemy import select

from open311.clock import utcnow
from open311.errors import ApiError
from open311.extensions import db
from open311.feedfile import FeedError, Record, fetch, is_url, parse
from open311.jurisdictions import resolve_jurisdiction
from open311.models import Jurisdiction, Service, ServiceRequest
from schemas.fields import parse_w3c_datetime
from schemas.inputs import STATUSES, text_problem

#: Text fields copied as published, with the longest value each column holds.
TEXT_FIELDS = {
    "status_notes": 4000,
    "description": 4000,
    "agency_responsible": 200,
    "service_notice": 4000,
    "address": 1000,
    "address_id": 200,
    "zipcode": 20,
    "media_url": 2000,
}
#: Values that mean "unknown" in real feeds (San Francisco's zipcode 0).
_PLACEHOLDERS = {"zipcode": {"0", "00000"}}
_MAX_KEY = 2**31 - 1  # PostgreSQL integer primary key


@dataclass
class Clean:
    """A record that passed every check, ready to store."""

    where: str
    original_id: str
    service_code: str
    service_name: str | None
    values: dict[str, Any]


@dataclass
class ImportReport:
    """What an import did, or why it did nothing."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    renamed: list[str] = field(default_factory=list)
    new_services: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None


def _datetime(value: Any, zone: tzinfo, naive: list[str]) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return parse_w3c_datetime(text)
    except ValueError as exc:
        if "no time zone" not in str(exc):
            raise
    # San Francisco's "2012-05-22 23:57:23.97": local time of the source, no zone.
    moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    naive.append(text)
    return moment.replace(tzinfo=zone)


def _coordinate(value: Any, name: str, limit: float) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise ValueError(f"{name}: {value!r} is out of range")
    return number


def check(record: Record, zone: tzinfo, report: ImportReport, naive: list[str]) -> Clean | None:
    """Validate one record; its faults go to ``report`` (prefixed with where it is)."""
    raw = record.fields
    faults: list[str] = []
    if "__error__" in raw:
        report.problems.append(f"{record.where}: {raw['__error__']}")
        return None
    original_id = _text(raw.get("service_request_id"))
    label = f"{record.where} ({original_id})" if original_id else record.where
    if original_id is None:
        faults.append("service_request_id is missing")
    elif len(original_id) > 150 or text_problem(original_id) or "\n" in original_id:
        faults.append("service_request_id is not a usable id")
    code = _text(raw.get("service_code"))
    if code is None:
        faults.append("service_code is missing")
    elif len(code) > 200:
        faults.append("service_code is longer than 200 characters")
    status = (_text(raw.get("status")) or "").lower()
    if status not in STATUSES:
        faults.append(f"status {raw.get('status')!r} is neither open nor closed")
    values: dict[str, Any] = {"status": status}
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        try:
            values[name] = _datetime(raw.get(name), zone, naive)
        except ValueError as exc:
            faults.append(f"{name}: {exc}")
    if "requested_datetime" in values and values["requested_datetime"] is None:
        faults.append("requested_datetime is missing")
    try:
        lat = _coordinate(raw.get("lat"), "lat", 90)
        long = _coordinate(raw.get("long"), "long", 180)
    except ValueError as exc:
        faults.append(str(exc))
        lat = long = None
    if lat is None or long is None or (lat == 0 and long == 0):
        lat = long = None  # 0,0 is the feeds' placeholder for "not located", not the Gulf of Guinea
    values.update(lat=lat, long=long)
    for name, limit in TEXT_FIELDS.items():
        text = _text(raw.get(name))
        if text is not None and text in _PLACEHOLDERS.get(name, ()):
            text = None
        if text is not None and (len(text) > limit or text_problem(text)):
            faults.append(f"{name}: longer than {limit} characters or not plain text")
        values[name] = text
    if faults:
        report.problems.extend(f"{label}: {fault}" for fault in faults)
        return None
    assert original_id is not None
    assert code is not None
    values["updated_datetime"] = max(
        values["updated_datetime"] or values["requested_datetime"], values["requested_datetime"]
    )
    name = _text(raw.get("service_name"))
    return Clean(record.where, original_id, code, name[:200] if name else None, values)


def _service(jurisdiction: Jurisdiction, clean: Clean, report: ImportReport) -> Service:
    service = db.session.scalar(
        select(Service).where(
            Service.jurisdiction_pk == jurisdiction.id, Service.service_code == clean.service_code
        )
    )
    if service is None:
        # History names service types the catalogue does not offer; keep them, retired, so
        # their definitions stay readable and they never appear in the service list.
        service = Service(
            jurisdiction_pk=jurisdiction.id,
            service_code=clean.service_code,
            service_name=clean.service_name or clean.service_code,
            type="realtime",
            attributes=[],
            position=10_000,
            active=False,
            updated_at=utcnow(),
        )
        db.session.add(service)
        db.session.flush()
        report.new_services.append(clean.service_code)
    return service


def _free_key(public_id: str) -> int | None:
    if not public_id.isdigit() or str(int(public_id)) != public_id or int(public_id) > _MAX_KEY:
        return None
    key = int(public_id)
    return None if db.session.get(ServiceRequest, key) is not None else key


def store(
    cleans: list[Clean], jurisdiction: Jurisdiction, source: str, report: ImportReport
) -> None:
    """Create or update the requests of a checked feed, in the session's transaction."""
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        # Keys are set by hand below; a request POSTed meanwhile must not draw one of them
        # from the sequence, so new requests wait for the import to commit.
        db.session.execute(sa.text("LOCK TABLE service_requests IN SHARE ROW EXCLUSIVE MODE"))
    for clean in cleans:
        service = _service(jurisdiction, clean, report)
        row = db.session.scalar(
            select(ServiceRequest).where(
                ServiceRequest.import_source == source,
                ServiceRequest.import_id == clean.original_id,
            )
        )
        wanted = {**clean.values, "service_pk": service.id, "jurisdiction_pk": jurisdiction.id}
        if row is not None:
            changed = {k: v for k, v in wanted.items() if getattr(row, k) != v}
            for name, value in changed.items():
                setattr(row, name, value)
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1
            continue
        public_id = clean.original_id
        taken = select(ServiceRequest.id).where(ServiceRequest.service_request_id == public_id)
        if db.session.scalar(taken) is not None:
            public_id = f"{source}:{clean.original_id}"
            if db.session.scalar(
                select(ServiceRequest.id).where(ServiceRequest.service_request_id == public_id)
            ):
                raise ValueError(
                    f"{clean.where}: both {clean.original_id!r} and {public_id!r} are taken"
                )
            report.renamed.append(f"{clean.original_id} -> {public_id}")
        row = ServiceRequest(
            service_request_id=public_id,
            import_source=source,
            import_id=clean.original_id,
            attributes={},
            **wanted,
        )
        key = _free_key(public_id)
        if key is not None:
            row.id = key
        db.session.add(row)
        db.session.flush()
        report.created += 1
    if postgres:
        # Keys set by hand do not move the sequence; the next native id must come after them
        # (and the sequence never goes back).
        db.session.execute(
            sa.text(
                "SELECT setval(s.seq, GREATEST((SELECT max(id) FROM service_requests),"
                " COALESCE(pg_sequence_last_value(s.seq), 1)))"
                " FROM (SELECT CAST(pg_get_serial_sequence('service_requests', 'id') AS regclass)"
                " AS seq) s"
            )
        )


def default_source(location: str) -> str:
    """The namespace of a feed when none is given: a URL's host, or a file's name."""
    if is_url(location):
        return urlsplit(location).hostname or "import"
    return Path(location).stem[:100] or "import"


def import_feed(
    location: str, source: str, jurisdiction_id: str | None, zone: tzinfo
) -> ImportReport:
    """Check a whole feed and, only if every record passes, store it in one transaction."""
    report = ImportReport()
    try:
        records = parse(fetch(location))
    except FeedError as exc:
        report.problems.append(str(exc))
        return report
    try:
        jurisdiction = resolve_jurisdiction(jurisdiction_id)
    except ApiError as exc:
        report.problems.extend(exc.descriptions)
        return report
    if jurisdiction is None:
        report.problems.append("no catalogue is loaded; run open311 services import first")
        return report
    naive: list[str] = []
    cleans: list[Clean] = []
    first_seen: dict[str, str] = {}
    for record in records:
        clean = check(record, zone, report, naive)
        if clean is None:
            continue
        if clean.original_id in first_seen:
            report.problems.append(
                f"{record.where} ({clean.original_id}): service_request_id repeats "
                f"{first_seen[clean.original_id]}"
            )
            continue
        first_seen[clean.original_id] = record.where
        cleans.append(clean)
    if report.problems:
        return report
    if naive:
        report.notes.append(
            f"{len(naive)} datetimes had no time zone (e.g. {naive[0]!r}); read as {zone}"
        )
    try:
        store(cleans, jurisdiction, source, report)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        report.problems.append(f"nothing was imported: {exc}")
    return report


@click.command("import")
@click.argument("location", metavar="FILE|URL")
@click.option("--source", help="namespace of this feed's ids [default: URL host or file name]")
@click.option("--jurisdiction-id", help="jurisdiction the requests belong to")
@click.option(
    "--timezone",
    "timezone",
    default="America/Chicago",
    show_default=True,
    help="zone of datetimes the feed gives without one",
)
@with_appcontext
def import_command(
    location: str, source: str | None, jurisdiction_id: str | None, timezone: str
) -> None:
    """Import a GeoReport v2 requests.json / requests.xml feed, or a CSV export, keeping the
    original ids. Safe to run again: the same feed updates what changed. A feed with any
    faulty record is refused whole, one line per fault.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {timezone!r}", param_hint="--timezone"
        ) from None
    name = source or default_source(location)
    if len(name) > 100 or text_problem(name):
        raise click.BadParameter("at most 100 plain characters", param_hint="--source")
    report = import_feed(location, name, jurisdiction_id, zone)
    if report.problems:
        click.echo(f"{location}: refused, nothing was imported:", err=True)
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.new_services:
        click.echo(f"retired services created for history: {', '.join(report.new_services)}")
    for renamed in report.renamed:
        click.echo(f"id taken, published as: {renamed}")
    click.echo(
        f"{location}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged (source {name!r})."
    )
