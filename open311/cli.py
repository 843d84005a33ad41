"""The ``open311`` command line: database, catalogue, keys, serving."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from open311.catalogue import CatalogueError, import_catalogue, read_catalogue_file
from open311.config import ConfigError
from open311.errors import ApiError

services_cli = click.Group("services", help="Manage the service catalogue.")
keys_cli = click.Group("keys", help="Manage API keys.")
requests_cli = click.Group("requests", help="Work on stored service requests.")


@services_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def services_import(file: Path) -> None:
    """Load or update the catalogue from a JSON or YAML FILE."""
    try:
        summary = import_catalogue(read_catalogue_file(file))
    except CatalogueError as exc:
        click.echo(f"{file}: refused, nothing was loaded:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    if not summary.changed:
        click.echo(f"{file}: catalogue unchanged ({len(summary.unchanged)} services).")
        return
    for label, items in (
        ("created", summary.created),
        ("updated", summary.updated),
        ("deactivated", summary.deactivated),
        ("jurisdictions changed", summary.jurisdictions_changed),
    ):
        if items:
            click.echo(f"{label}: {', '.join(items)}")
    click.echo(f"{file}: catalogue loaded.")


@keys_cli.command("create")
@click.option("--name", required=True, help="Who the key is for, e.g. the app's name.")
@with_appcontext
def keys_create(name: str) -> None:
    """Create an API key; the key is printed alone on the last line, and only once."""
    from open311.keys import create_key

    row, secret = create_key(name)
    click.echo(f"Created API key {row.prefix} for {name!r}. Store it now; it is not shown again:")
    click.echo(secret)


@requests_cli.command("close")
@click.argument("service_request_id")
@click.option("--notes", help="Why the request is closed; published as status_notes.")
@with_appcontext
def requests_close(service_request_id: str, notes: str | None) -> None:
    """Close a request (sets status, status_notes and updated_datetime)."""
    from open311.feed import get_request
    from open311.status import change_status

    try:
        row = get_request(None, service_request_id)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    change_status(row, "closed", notes)
    click.echo(f"Request {service_request_id} closed.")


@click.command("dispatch")
@with_appcontext
def dispatch_command() -> None:
    """Deliver requests still waiting for their back end (batch tokens)."""
    from open311.dispatch import deliver_pending

    click.echo(f"{deliver_pending()} request(s) delivered.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8311, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn (not Flask's development server)."""
    from gunicorn.app.base import BaseApplication

    from open311 import create_app

    class Gateway(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("accesslog", "-")
            if "control_socket_disable" in self.cfg.settings:
                # One fixed control socket per user would clash between two gateways.
                self.cfg.set("control_socket_disable", True)
            # Log the path only: query strings of GET filters are fine, but never form bodies.
            self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss')

        def load(self) -> Flask:
            return create_app()

    base = f"http://{host}:{port}/open311/v2"
    click.echo(
        f"Open311 GeoReport v2 gateway at {base}/discovery.xml (services: {base}/services.xml)"
    )
    Gateway().run()


def init_app(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    from open311.duplicates import duplicate_command
    from open311.export import export_command
    from open311.history import import_command

    if "import" not in requests_cli.commands:
        requests_cli.add_command(import_command)
        requests_cli.add_command(duplicate_command)

    commands = (services_cli, keys_cli, requests_cli, dispatch_command, serve_command)
    for command in (*commands, export_command):
        app.cli.add_command(command)


def _create_app(*args: Any) -> Flask:
    from open311 import create_app

    return create_app()


def main() -> None:
    """Entry point of the ``open311`` console script."""
    cli = FlaskGroup(
        name="open311",
        create_app=_create_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="Open311 GeoReport v2 gateway.",
    )
    try:
        cli.main(prog_name="open311")
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


__all__ = ["main"]
