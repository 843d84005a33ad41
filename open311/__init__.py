"""open311-gateway: an Open311 GeoReport v2 server for myAurora 311."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from open311.clock import utcnow
from open311.config import load_settings
from open311.extensions import db, migrate

MIGRATIONS = str(Path(__file__).parent / "migrations")
#: Seconds to wait for PostgreSQL to accept a new connection.
DB_CONNECT_TIMEOUT = 5


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the gateway app.

    Settings come from ``OPEN311_*`` environment variables; ``overrides`` (setting name ->
    value) are applied on top, which is how tests pick their database.

    :raises open311.config.ConfigError: on a bad setting.
    """
    app = Flask(__name__, instance_relative_config=True)
    settings = load_settings(app.instance_path, overrides=overrides)
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    # hide_parameters: a failed statement's message would carry names and e-mails into
    # the error log; the statement itself is enough to find the bug.
    engine_options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if settings.database_url.startswith("postgresql"):
        # libpq waits forever for a server that accepts but never answers: give up and
        # answer 503 instead of holding the resident's request (and a server thread).
        engine_options["connect_args"] = {"connect_timeout": DB_CONNECT_TIMEOUT}
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        MAX_CONTENT_LENGTH=settings.max_content_length,
    )
    app.extensions["open311"] = {"settings": settings, "started_at": utcnow()}

    from open311 import (
        cli,
        errors,
        hooks,
        logs,
        mappage,
        ratelimits,
        registry,
        spatial,
        sqlite,
        unsubscribe,
    )
    from open311.api import bp

    logs.init_app(app, logs.default_format(settings.log_format, app.debug))
    sqlite.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS)
    errors.init_app(app)
    registry.init_app(app)
    spatial.init_app(app)
    cli.init_app(app)
    app.register_blueprint(bp)
    mappage.init_app(app)
    hooks.init_app(app)
    unsubscribe.init_app(app)
    ratelimits.init_app(app)
    return app
