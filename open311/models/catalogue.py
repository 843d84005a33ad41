"""Jurisdictions and the services they offer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.types import GeometryType, UTCDateTime

if TYPE_CHECKING:
    from open311.models.boundaries import Boundary

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Jurisdiction(db.Model):  # type: ignore[name-defined,misc]
    """A city (or part of one) served by this gateway, keyed by its GeoReport id."""

    __tablename__ = "jurisdictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jurisdiction_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    services: Mapped[list[Service]] = relationship(
        back_populates="jurisdiction", order_by="Service.position"
    )
    # Loaded with the jurisdiction: every located request asks for it.
    boundary: Mapped[Boundary | None] = relationship(back_populates="jurisdiction", lazy="joined")


class Service(db.Model):  # type: ignore[name-defined,misc]
    """One service type of the catalogue, with its definition's attributes.

    Attributes are kept as the list of GeoReport attribute objects exactly as published;
    they are small, always read whole, and validated by ``schemas.catalogue`` on import.
    """

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("jurisdiction_pk", "service_code", name="uq_services_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jurisdiction_pk: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    service_code: Mapped[str] = mapped_column(String(200))
    service_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    keywords: Mapped[str | None] = mapped_column(Text)
    group: Mapped[str | None] = mapped_column("service_group", String(200))
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The name of the back end that handles the service; ``None`` is in house (``local``).
    backend: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: An optional area of its own (e.g. a program run in some wards only), within the limits.
    area_name: Mapped[str | None] = mapped_column(String(200))
    area: Mapped[Any] = mapped_column(GeometryType("MULTIPOLYGON"), nullable=True, deferred=True)

    jurisdiction: Mapped[Jurisdiction] = relationship(back_populates="services")

    @property
    def metadata_flag(self) -> bool:
        """GeoReport ``metadata``: true when the definition has attributes to fetch."""
        return bool(self.attributes)

    def attribute(self, code: str) -> dict[str, Any] | None:
        """The attribute definition with this ``code``, if any."""
        return next((a for a in self.attributes if a["code"] == code), None)
