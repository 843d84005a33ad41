"""Marking a request as the duplicate of another (``open311 requests duplicate``).

Published through ``extensions=true`` as Chicago does: ``duplicate`` and
``parent_service_request_id`` in ``extended_attributes``.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from open311.errors import ApiError
from open311.extensions import db
from open311.models import ServiceRequest
from open311.status import change_status


class DuplicateError(ValueError):
    """The link cannot be made."""


def mark_duplicate(row: ServiceRequest, parent: ServiceRequest, notes: str | None) -> None:
    """Link ``row`` to ``parent`` and close it (duplicates are handled under the parent).

    :raises DuplicateError: for a link to itself or one that would make a cycle.
    """
    ancestor: ServiceRequest | None = parent
    while ancestor is not None:
        if ancestor.id == row.id:
            raise DuplicateError(
                f"{parent.service_request_id} is {row.service_request_id} or one of its "
                "duplicates; a request cannot duplicate itself."
            )
        ancestor = (
            db.session.get(ServiceRequest, ancestor.parent_pk) if ancestor.parent_pk else None
        )
    row.parent_pk = parent.id
    change_status(row, "closed", notes or f"Duplicate of request {parent.service_request_id}.")


@click.command("duplicate")
@click.argument("service_request_id")
@click.option("--of", "parent_id", required=True, help="the request it duplicates")
@click.option("--notes", help="published as status_notes [default: Duplicate of request N.]")
@with_appcontext
def duplicate_command(service_request_id: str, parent_id: str, notes: str | None) -> None:
    """Mark a request as a duplicate of another, and close it."""
    from open311.feed import get_request

    try:
        row = get_request(None, service_request_id)
        parent = get_request(None, parent_id)
        mark_duplicate(row, parent, notes)
    except (ApiError, DuplicateError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Request {service_request_id} closed as a duplicate of {parent_id}.")
