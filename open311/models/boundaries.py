"""City limits: each jurisdiction's boundary and its subdivided copy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from open311.extensions import db
from open311.models.catalogue import Jurisdiction
from open311.models.types import GeometryType, UTCDateTime


class Boundary(db.Model):  # type: ignore[name-defined,misc]
    """A jurisdiction's limits as loaded, holes (unincorporated enclaves) included."""

    __tablename__ = "boundaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jurisdiction_pk: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"), unique=True)
    geom: Mapped[Any] = mapped_column(GeometryType("MULTIPOLYGON"), deferred=True)
    source: Mapped[str] = mapped_column(String(500))
    #: SHA-256 of the geometry's WKB: tells caches in other processes that the limits changed.
    checksum: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    parts: Mapped[int] = mapped_column(Integer)
    holes: Mapped[int] = mapped_column(Integer)
    vertices: Mapped[int] = mapped_column(Integer)
    min_long: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_long: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)

    jurisdiction: Mapped[Jurisdiction] = relationship(back_populates="boundary")

    @property
    def bbox(self) -> str:
        """``minLon,minLat,maxLon,maxLat``, the order of the ``bbox`` query parameter."""
        return ",".join(
            f"{v:.6f}" for v in (self.min_long, self.min_lat, self.max_long, self.max_lat)
        )


class BoundaryPart(db.Model):  # type: ignore[name-defined,misc]
    """A small piece of a boundary (``ST_Subdivide``), so that the GiST index does the work.

    A point test against one 4,404-vertex polygon walks every edge; against pieces of at
    most a few dozen vertices, the index finds the one or two that matter.
    """

    __tablename__ = "boundary_parts"
    __table_args__ = (Index("ix_boundary_parts_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    boundary_pk: Mapped[int] = mapped_column(
        ForeignKey("boundaries.id", ondelete="CASCADE"), index=True
    )
    geom: Mapped[Any] = mapped_column(GeometryType("POLYGON"))
