"""Loading the service catalogue and reading it back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from flask import current_app
from marshmallow import ValidationError
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select

from adapters.base import SettingsError
from open311.clock import utcnow
from open311.config import Settings
from open311.errors import ApiError, flatten_messages
from open311.extensions import db
from open311.models import Backend, Jurisdiction, Service
from open311.registry import LOCAL, enabled_class, is_env_ref, resolve_env
from open311.spatial.geojson import LimitsError, limits_from_geojson
from schemas.catalogue import CatalogueFile

_SERVICE_FIELDS = (
    "service_name",
    "description",
    "type",
    "keywords",
    "group",
    "attributes",
    "area_name",
    "area",
    "backend",
)


class CatalogueError(ValueError):
    """The catalogue file cannot be loaded; ``problems`` has one line per fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class ImportSummary:
    """What an import changed."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    jurisdictions_changed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the import changed anything at all."""
        return bool(self.created or self.updated or self.deactivated or self.jurisdictions_changed)


def read_catalogue_file(path: Path) -> Any:
    """Parse a JSON or YAML catalogue file (chosen by suffix; YAML otherwise)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError([f"{path}: cannot read: {exc}"]) from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CatalogueError(
            [f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"]
        ) from None


def _label_entries(raw: Any, lines: list[str]) -> list[str]:
    # "services[3].type: ..." is hard to find in a long file; add the entry's own code.
    services = raw.get("services") if isinstance(raw, dict) else None
    labelled = []
    for line in lines:
        if line.startswith("services[") and isinstance(services, list):
            index = int(line[len("services[") : line.index("]")])
            entry = services[index] if index < len(services) else None
            code = entry.get("service_code") if isinstance(entry, dict) else None
            if code is not None:
                head = f"services[{index}]"
                line = f"{head} (service_code {code!r}){line[len(head) :]}"
        labelled.append(line)
    return labelled


def validate_catalogue(raw: Any) -> dict[str, Any]:
    """Check a parsed catalogue; returns the loaded data or raises :class:`CatalogueError`."""
    if not isinstance(raw, dict):
        raise CatalogueError(["The catalogue must be an object with jurisdictions and services."])
    try:
        data: dict[str, Any] = CatalogueFile().load(raw)
    except ValidationError as exc:
        raise CatalogueError(_label_entries(raw, flatten_messages(exc.messages))) from None
    ids = [j["jurisdiction_id"] for j in data["jurisdictions"]]
    problems = [
        f"jurisdictions: {i!r} is listed twice" for i in {i for i in ids if ids.count(i) > 1}
    ]
    backends = data["backends"]
    if LOCAL in backends:
        problems.append(f"backends.{LOCAL}: the name is reserved for the in-house back end")
    defaults = {j["jurisdiction_id"]: j.get("backend") for j in data["jurisdictions"]}
    for jurisdiction_id, name in defaults.items():
        if name not in (None, LOCAL) and name not in backends:
            problems.append(f"jurisdictions ({jurisdiction_id!r}).backend: no back end {name!r}")
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(data["services"]):
        label = f"services[{index}] (service_code {entry['service_code']!r})"
        if "jurisdiction_id" not in entry:
            if len(ids) > 1:
                problems.append(
                    f"{label}.jurisdiction_id: required when the file has several jurisdictions"
                )
                continue
            entry["jurisdiction_id"] = ids[0]
        if entry["jurisdiction_id"] not in ids:
            problems.append(
                f"{label}.jurisdiction_id: {entry['jurisdiction_id']!r} "
                "is not among the file's jurisdictions"
            )
        key = (entry["jurisdiction_id"], entry["service_code"])
        if key in seen:
            problems.append(f"{label}.service_code: listed twice for {key[0]!r}")
        seen.add(key)
        entry["attributes"] = sorted(entry["attributes"], key=lambda a: a["order"])
        area = entry.pop("area")
        entry["area_name"], entry["area"] = (area["name"], None) if area else (None, None)
        if area:
            try:
                entry["area"] = limits_from_geojson(area["geometry"])
            except LimitsError as exc:
                problems.append(f"{label}.area.geometry: {exc}")
        name = entry.get("backend") or defaults.get(entry["jurisdiction_id"])
        if name not in (None, LOCAL) and name not in backends:
            problems.append(f"{label}.backend: no back end {name!r} in backends")
        entry["backend"] = None if name == LOCAL else name
    if problems:
        raise CatalogueError(problems)
    return data


def check_backends(backends: dict[str, Any], settings: Settings) -> list[str]:
    """Check each back end's adapter is enabled and its settings fit the adapter's schema."""
    problems = []
    for name, entry in backends.items():
        try:
            cls = enabled_class(entry["adapter"], settings)
            loaded = cls.validate_settings(resolve_env(entry["settings"]))
            # Store the variable's name, never the secret it holds.
            given = entry["settings"]
            entry["settings"] = {
                key: given[key] if is_env_ref(given.get(key)) else value
                for key, value in loaded.items()
            }
        except LookupError as exc:
            problems.append(f"backends.{name}.adapter: {exc}")
        except SettingsError as exc:
            problems.extend(f"backends.{name}.settings.{line}" for line in exc.problems)
    return problems


def _store_backends(backends: dict[str, Any], now: datetime) -> None:
    # Back ends dropped from the file are kept: requests still on their way name them.
    for name, entry in backends.items():
        row = db.session.scalar(select(Backend).where(Backend.name == name))
        if row is None:
            row = Backend(name=name, updated_at=now)
            db.session.add(row)
        wanted = (entry["adapter"], entry["settings"], entry["statuses"])
        if (row.adapter, row.settings, row.statuses or {}) != wanted:
            row.adapter, row.settings, row.statuses = wanted
            row.updated_at = now


def import_catalogue(raw: Any) -> ImportSummary:
    """Load or update the catalogue in one transaction; nothing is written on any fault.

    Services that the file no longer lists are deactivated, not deleted: existing requests
    keep pointing at them and their definitions stay readable.
    """
    data = validate_catalogue(raw)
    problems = check_backends(data["backends"], current_app.extensions["open311"]["settings"])
    if problems:
        raise CatalogueError(problems)
    now = utcnow()
    summary = ImportSummary()
    try:
        _store_backends(data["backends"], now)
        jurisdictions: dict[str, Jurisdiction] = {}
        for position, entry in enumerate(data["jurisdictions"]):
            row = db.session.scalar(
                select(Jurisdiction).where(Jurisdiction.jurisdiction_id == entry["jurisdiction_id"])
            )
            if row is None:
                row = Jurisdiction(jurisdiction_id=entry["jurisdiction_id"], updated_at=now)
                db.session.add(row)
            if (row.name, row.position) != (entry["name"], position):
                row.name, row.position, row.updated_at = entry["name"], position, now
                summary.jurisdictions_changed.append(entry["jurisdiction_id"])
            jurisdictions[entry["jurisdiction_id"]] = row
        db.session.flush()

        listed: set[int] = set()
        for position, entry in enumerate(data["services"]):
            jurisdiction = jurisdictions[entry["jurisdiction_id"]]
            label = f"{jurisdiction.jurisdiction_id}/{entry['service_code']}"
            row = db.session.scalar(
                select(Service).where(
                    Service.jurisdiction_pk == jurisdiction.id,
                    Service.service_code == entry["service_code"],
                )
            )
            wanted = {name: entry[name] for name in _SERVICE_FIELDS}
            wanted.update(position=position, active=True)
            if row is None:
                row = Service(
                    jurisdiction=jurisdiction,
                    service_code=entry["service_code"],
                    updated_at=now,
                    **wanted,
                )
                db.session.add(row)
                summary.created.append(label)
            elif any(_differs(getattr(row, name), value) for name, value in wanted.items()):
                for name, value in wanted.items():
                    setattr(row, name, value)
                row.updated_at = now
                summary.updated.append(label)
            else:
                summary.unchanged.append(label)
            db.session.flush()
            listed.add(row.id)

        stale = select(Service).where(
            Service.jurisdiction_pk.in_([j.id for j in jurisdictions.values()]),
            Service.active.is_(True),
            Service.id.not_in(listed) if listed else Service.id.is_not(None),
        )
        for row in db.session.scalars(stale):
            row.active, row.updated_at = False, now
            summary.deactivated.append(f"{row.jurisdiction.jurisdiction_id}/{row.service_code}")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return summary


def _differs(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, BaseGeometry) or isinstance(stored, BaseGeometry):
        # Geometries compare by shape; == on them is not a plain boolean.
        return stored is None or wanted is None or not stored.equals_exact(wanted, 0)
    return bool(stored != wanted)


def active_services(jurisdiction: Jurisdiction | None) -> list[Service]:
    """The services a jurisdiction offers now, in catalogue order."""
    if jurisdiction is None:
        return []
    query = (
        select(Service)
        .where(Service.jurisdiction_pk == jurisdiction.id, Service.active.is_(True))
        .order_by(Service.position, Service.id)
    )
    return list(db.session.scalars(query))


def find_service(jurisdiction: Jurisdiction | None, code: str, *, active_only: bool) -> Service:
    """The service ``code`` of a jurisdiction.

    Retired services still answer their definition (old requests refer to them) but take no
    new requests.

    :raises ApiError: 404 when there is no such service.
    """
    service = None
    if jurisdiction is not None:
        service = db.session.scalar(
            select(Service).where(
                Service.jurisdiction_pk == jurisdiction.id, Service.service_code == code
            )
        )
    if service is None or (active_only and not service.active):
        raise ApiError(404, f"Unknown service_code {code!r}; see services.xml for the list.")
    return service


def catalogue_changeset() -> datetime | None:
    """When the catalogue last changed, or ``None`` when none is loaded."""
    latest = [
        db.session.scalar(select(func.max(Service.updated_at))),
        db.session.scalar(select(func.max(Jurisdiction.updated_at))),
    ]
    stamps = [s for s in latest if s is not None]
    return max(stamps) if stamps else None
