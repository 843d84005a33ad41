"""``open311 keys``: create, list, revoke and expire API keys.

A key is named by its prefix (the 8 hex digits after ``o311_``), which ``keys list`` shows;
the secret is printed once by ``keys create`` and never again, by any command.
"""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import with_appcontext

from open311.models.keys import ROLES

keys_cli = click.Group("keys", help="Manage API keys.")


def _when(text: str) -> datetime:
    """:func:`open311.keys.parse_when`, its refusal a usage error."""
    from open311.keys import parse_when

    try:
        return parse_when(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _stamp(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}Z" if value is not None else "-"


@keys_cli.command("create")
@click.option("--name", required=True, help="Who the key is for, e.g. the app's name.")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    help="app (default): submits requests, updates, subscriptions; vendor: see --vendor; "
    "admin: staff, sees delivery states.",
)
@click.option("--admin", is_flag=True, help="Same as --role admin.")
@click.option(
    "--vendor",
    metavar="BACKEND",
    help="Vendor key bound to this back end: its requests with contacts, and their updates.",
)
@click.option(
    "--expires",
    metavar="WHEN",
    help="Refuse the key from then on: 2027-06-30, 2027-06-30T17:00:00-05:00, or 90d.",
)
@with_appcontext
def keys_create(
    name: str, role: str | None, admin: bool, vendor: str | None, expires: str | None
) -> None:
    """Create an API key; the key is printed alone on the last line, and only once."""
    from open311.keys import create_key

    expires_at = _when(expires) if expires else None
    try:
        row, secret = create_key(name, role=role, admin=admin, vendor=vendor, expires_at=expires_at)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    until = f", expires {_stamp(row.expires_at)}" if row.expires_at else ""
    click.echo(
        f"Created {row.role} key {row.prefix} for {name!r}{until}. "
        "Store it now; it is not shown again:"
    )
    click.echo(secret)


@keys_cli.command("list")
@with_appcontext
def keys_list() -> None:
    """Show every key: prefix, role, vendor, dates and name (never the secret)."""
    from open311.clock import utcnow
    from open311.keys import list_keys, refusal

    rows = list_keys()
    if not rows:
        click.echo("No API keys: create one with open311 keys create --name NAME.")
        return
    header = ("PREFIX", "ROLE", "VENDOR", "CREATED", "EXPIRES", "LAST USED", "REVOKED", "NAME")
    now = utcnow()
    lines = [header]
    for row in rows:
        state = "" if refusal(row, now) is None else " (refused)"
        lines.append(
            (
                row.prefix,
                row.role,
                row.vendor or "-",
                _stamp(row.created_at),
                _stamp(row.expires_at),
                _stamp(row.last_used_at),
                _stamp(row.revoked_at),
                row.name + state,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]))


@keys_cli.command("revoke")
@click.argument("prefix")
@with_appcontext
def keys_revoke(prefix: str) -> None:
    """Refuse the key with PREFIX from now on."""
    from open311.keys import KeyNotFound, revoke_key

    try:
        row = revoke_key(prefix)
    except KeyNotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Key {row.prefix} ({row.name!r}) revoked at {_stamp(row.revoked_at)}.")


@keys_cli.command("expire")
@click.argument("prefix")
@click.option("--at", "at", metavar="ISO8601", help="e.g. 2027-06-30 or 2027-06-30T17:00:00Z")
@click.option("--in", "span", metavar="SPAN", help="From now: 90m, 12h, 30d or 8w.")
@with_appcontext
def keys_expire(prefix: str, at: str | None, span: str | None) -> None:
    """Set when the key with PREFIX stops working (a moment past: at once)."""
    from open311.clock import utcnow
    from open311.keys import KeyNotFound, expire_key, parse_duration

    if (at is None) == (span is None):
        raise click.UsageError("give exactly one of --at ISO8601 or --in SPAN")
    if at is not None:
        when = _when(at)
    else:
        try:
            when = utcnow() + parse_duration(span or "")
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--in") from None
    try:
        row = expire_key(prefix, when)
    except KeyNotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Key {row.prefix} ({row.name!r}) expires {_stamp(row.expires_at)}.")
