"""``GET discovery``: where the endpoints are and how to reach the 311 center."""

from __future__ import annotations

from flask import Response, current_app, request

from open311.api import FMT, bp
from open311.catalogue import catalogue_changeset
from open311.config import Settings
from open311.formats import MIMETYPES, render
from open311.jurisdictions import all_jurisdictions
from schemas.discovery import GEOREPORT_V2, DiscoverySchema

_SCHEMA = DiscoverySchema()


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str) -> Response:
    """The Service Discovery document."""
    settings: Settings = current_app.extensions["open311"]["settings"]
    base = settings.public_url or request.url_root.rstrip("/")
    changeset = catalogue_changeset() or current_app.extensions["open311"]["started_at"]
    document = {
        "changeset": changeset,
        "contact": settings.contact,
        "key_service": settings.key_service,
        "endpoints": [
            {
                "specification": GEOREPORT_V2,
                "url": f"{base}{bp.url_prefix}",
                "changeset": changeset,
                "type": settings.endpoint_type,
                "formats": [MIMETYPES["xml"], MIMETYPES["json"]],
            }
        ],
        "jurisdictions": all_jurisdictions(),
    }
    return render(fmt, "discovery", _SCHEMA.dump(document))
