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
from open311.keys_cli import keys_cli

services_cli = click.Group("services", help="Manage the service catalogue.")
requests_cli = click.Group("requests", help="Work on stored service requests.")
boundary_cli = click.Group("boundary", help="Manage the city limits of each jurisdiction.")


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
        _warn_missing_limits()
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
    _warn_missing_limits()


def _warn_missing_limits() -> None:
    from open311.jurisdictions import all_jurisdictions

    for jurisdiction in all_jurisdictions():
        if jurisdiction.boundary is None:
            click.echo(
                f"note: {jurisdiction.jurisdiction_id} has no city limits loaded, so every "
                "location is accepted; load them with: open311 boundary import "
                f"--jurisdiction {jurisdiction.jurisdiction_id} FILE.geojson"
            )


@boundary_cli.command("import")
@click.option("--jurisdiction", "jurisdiction_id", required=True, help="The jurisdiction_id.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def boundary_import(jurisdiction_id: str, file: Path) -> None:
    """Load a jurisdiction's limits from a GeoJSON FILE, replacing the old ones."""
    from open311.jurisdictions import resolve_jurisdiction
    from open311.limits import boundary_status, import_boundary
    from open311.spatial.geojson import LimitsError, read_limits_file

    try:
        jurisdiction = resolve_jurisdiction(jurisdiction_id)
        limits = read_limits_file(file)
    except (ApiError, LimitsError) as exc:
        raise click.ClickException(f"{file}: refused, nothing was changed: {exc}") from None
    assert jurisdiction is not None
    import_boundary(jurisdiction, limits, source=file.name)
    click.echo(
        f"{jurisdiction.name} ({jurisdiction.jurisdiction_id}): {boundary_status(jurisdiction)}"
    )


@boundary_cli.command("status")
@with_appcontext
def boundary_show() -> None:
    """Say, for each jurisdiction, whether its limits are loaded."""
    from open311.jurisdictions import all_jurisdictions
    from open311.limits import boundary_status

    jurisdictions = all_jurisdictions()
    if not jurisdictions:
        click.echo("No catalogue is loaded: run open311 services import FILE first.")
    for jurisdiction in jurisdictions:
        click.echo(f"{jurisdiction.jurisdiction_id}: {boundary_status(jurisdiction)}")


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


@click.command("sync")
@click.option("--adapter", "adapter_name", help="Only the back ends of this adapter.")
@with_appcontext
def sync_command(adapter_name: str | None) -> None:
    """Poll each back end once for status changes and record them."""
    from open311.sync import sync_all

    results = sync_all(adapter_name)
    if not results:
        click.echo(
            "No back end that reports changes" + (f" uses {adapter_name}." if adapter_name else ".")
        )
    for result in results:
        click.echo(result.line())
    if any(r.error for r in results):
        raise SystemExit(1)


@click.group("dispatch", invoke_without_command=True)
@click.pass_context
def dispatch_cli(ctx: click.Context) -> None:
    """Deliveries to back ends; alone, attempts every job due now, once each."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(dispatch_run)


@dispatch_cli.command("run")
@with_appcontext
def dispatch_run() -> None:
    """Attempt every delivery due now, once each."""
    from open311.dispatch import deliver_pending

    click.echo(f"{deliver_pending()} request(s) delivered.")


@dispatch_cli.command("list")
@click.option("--failed", is_flag=True, help="Only the dead letter: deliveries that gave up.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@with_appcontext
def dispatch_list(failed: bool, limit: int) -> None:
    """Show deliveries newest first: job id, request id, back end, state, attempts, last error."""
    from open311.dispatch import FAILED, list_jobs

    for job in list_jobs(states={FAILED} if failed else None, limit=limit):
        detail = job.reference if job.state == "delivered" else (job.last_error or "")
        click.echo(
            f"{job.id}\t{job.request.service_request_id}\t{job.backend}\t{job.state}"
            f"\t{job.attempts}\t{detail}"
        )


@dispatch_cli.command("retry")
@click.argument("job_id", type=int)
@with_appcontext
def dispatch_retry(job_id: int) -> None:
    """Re-queue the failed delivery JOB_ID (same idempotency key, fresh attempts)."""
    from open311.dispatch import retry

    try:
        job = retry(job_id)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Delivery {job.id} of request {job.request.service_request_id} re-queued.")


@click.command("worker")
@click.option("--poll", type=click.FloatRange(min=0.01), help="Seconds between idle polls.")
@with_appcontext
def worker_command(poll: float | None) -> None:
    """Deliver requests to their back ends until stopped (SIGTERM or Ctrl-C)."""
    import signal
    import threading

    from flask import current_app

    from open311.worker import run_worker_with_queue

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo("open311 worker started.")
    run_worker_with_queue(app, stop, poll=poll)
    click.echo("open311 worker stopped.")


@click.command("simulate")
@click.argument("kind", type=click.Choice(["citysourced", "department"]))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8400, show_default=True, type=int)
def simulate_command(kind: str, host: str, port: int) -> None:
    """Run a simulated back end (for demos and tests) until Ctrl-C."""
    import signal
    import threading

    from open311.simulators import citysourced, department
    from open311.simulators.server import Running

    module = citysourced if kind == "citysourced" else department
    running = Running(module.create_simulator(), host=host, port=port)
    click.echo(f"{kind} simulator at {running.url} (control plane: {running.url}/_sim/)")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    running.stop()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8311, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn (not Flask's development server)."""
    from gunicorn.app.base import BaseApplication

    from open311 import create_app, logs
    from open311.config import load_settings

    log_format = logs.default_format(load_settings("").log_format)

    class Gateway(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            if "control_socket_disable" in self.cfg.settings:
                # One fixed control socket per user would clash between two gateways.
                self.cfg.set("control_socket_disable", True)
            # No gunicorn access log: the app writes one line per request itself (path only,
            # never a query string that may hold api_key), with its request id; gunicorn's
            # own lines come out in the same format.
            self.cfg.set("accesslog", None)
            self.cfg.set("logger_class", logs.gunicorn_logger(log_format))

        def load(self) -> Flask:
            app = create_app()
            settings = app.extensions["open311"]["settings"]
            if settings.database_url.startswith("sqlite") and settings.dispatch == "inline":
                # The embedded default needs no separate worker: each server process runs
                # the dispatcher in a thread; claims make the processes share the work.
                from open311.worker import start_background

                start_background(app)
            return app

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

    for command in (
        services_cli,
        keys_cli,
        requests_cli,
        boundary_cli,
        dispatch_cli,
        sync_command,
        worker_command,
        simulate_command,
        serve_command,
        export_command,
    ):
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
