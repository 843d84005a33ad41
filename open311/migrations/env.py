"""Alembic environment: one migration history for SQLite and PostgreSQL/PostGIS."""

import logging

from alembic import context
from flask import current_app

config = context.config
# The app has set up logging already (JSON or text, on standard error); alembic.ini's own
# logging section would replace that handler, so migration lines would come out in another
# format and the gateway's later lines in none. Only the levels are ours to set here.
for name in ("alembic", "flask_migrate"):
    logging.getLogger(name).setLevel(logging.INFO)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
engine = target_db.engine
config.set_main_option(
    "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def run_migrations_offline():
    """Emit SQL for the configured URL without connecting."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_db.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Migrate the database of the app's engine."""

    def process_revision_directives(context, revision, directives):
        # Never write an empty revision file when autogenerate finds no change.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
