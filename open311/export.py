"""``open311 export``: the bulk feeds written to a file, for offline use."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
from flask import current_app
from flask.cli import with_appcontext
from marshmallow import ValidationError

from open311 import bulk
from open311.errors import ApiError, flatten_messages
from open311.jurisdictions import resolve_jurisdiction
from schemas.inputs import RequestsQuery

#: Command-line option -> query parameter of ``GET requests`` it stands for.
FILTERS = (
    "jurisdiction_id",
    "service_request_id",
    "service_code",
    "status",
    "start_date",
    "end_date",
    "updated_after",
    "updated_before",
    "bbox",
    "lat",
    "long",
    "radius",
    "q",
)


def load_filters(options: dict[str, Any]) -> dict[str, Any]:
    """Read the filter options exactly as ``GET requests`` reads its query string.

    :raises click.UsageError: naming every bad option.
    """
    raw = {name: str(value) for name, value in options.items() if value not in (None, "")}
    try:
        loaded: dict[str, Any] = RequestsQuery().load(raw)
    except ValidationError as exc:
        lines = flatten_messages(exc.messages)
        raise click.UsageError("; ".join(line.replace("_", "-") for line in lines)) from None
    return loaded


def _counted(
    rows: Iterator[dict[str, Any]], bar: Any, step: int = 1000
) -> Iterator[dict[str, Any]]:
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % step == 0:
            bar.update(step)
    bar.update(done % step)


def _write(chunks: Iterator[Any], out: IO[bytes]) -> None:
    for chunk in chunks:
        out.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)


@click.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(sorted(bulk.WRITERS)), default="csv", show_default=True
)
@click.option("--jurisdiction-id")
@click.option("--service-request-id", help="comma list")
@click.option("--service-code", help="comma list")
@click.option("--status", help="open, closed or both (comma list)")
@click.option("--start-date", help="requested on or after (W3C datetime)")
@click.option("--end-date", help="requested on or before")
@click.option("--updated-after", help="updated on or after; lifts the 90-day window")
@click.option("--updated-before", help="updated before")
@click.option("--bbox", help="minLon,minLat,maxLon,maxLat")
@click.option("--lat", help="centre of a radius search")
@click.option("--long", help="centre of a radius search")
@click.option("--radius", help="metres")
@click.option("-q", "--q", "q", help="full-text search of descriptions")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@with_appcontext
def export_command(fmt: str, file: str, **options: Any) -> None:
    """Write every request matching the filters to FILE (- for stdout) as CSV, GeoJSON or
    GeoReport JSON. Filters are those of GET requests; without dates the last 90 days, so
    the whole history is --updated-after 1970-01-01. The file appears whole or not at all.
    """
    args = load_filters({name: options.get(name) for name in FILTERS})
    try:
        jurisdiction = resolve_jurisdiction(args.get("jurisdiction_id"))
        query = bulk.bulk_query(jurisdiction, args, current_app.extensions["open311"]["settings"])
    except ApiError as exc:
        raise click.UsageError("; ".join(exc.descriptions)) from None
    if file == "-":
        _write(bulk.WRITERS[fmt](bulk.public_rows(query)), sys.stdout.buffer)
        return
    total = bulk.count(query)
    target = Path(file)
    partial = target.with_name(target.name + ".part")
    try:
        with (
            partial.open("wb") as out,
            click.progressbar(
                length=total, label=f"exporting {total} requests", file=sys.stderr
            ) as bar,
        ):
            _write(bulk.WRITERS[fmt](_counted(bulk.public_rows(query), bar)), out)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"{target}: {total} requests written as {fmt}.")
