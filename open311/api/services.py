"""``GET services`` and ``GET services/{service_code}``."""

from __future__ import annotations

from flask import Response

from open311.api import FMT, bp, jurisdiction_from_query
from open311.catalogue import active_services, find_service
from open311.formats import render
from schemas.services import ServiceDefinitionSchema, ServiceSchema

_LIST = ServiceSchema(many=True)
_DEFINITION = ServiceDefinitionSchema()


@bp.get(f"/services.{FMT}")
def service_list(fmt: str) -> Response:
    """The services the jurisdiction offers, in catalogue order."""
    jurisdiction = jurisdiction_from_query()
    return render(fmt, "services", _LIST.dump(active_services(jurisdiction)))


@bp.get(f"/services/<path:service_code>.{FMT}")
def service_definition(service_code: str, fmt: str) -> Response:
    """A service's attributes; an empty list for a service that has none (§3.13)."""
    jurisdiction = jurisdiction_from_query()
    service = find_service(jurisdiction, service_code, active_only=False)
    return render(fmt, "service_definition", _DEFINITION.dump(service))
