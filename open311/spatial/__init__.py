"""Spatial decisions: is a point within a boundary, and how far outside is it.

Two implementations answer the same questions: PostGIS in SQL on PostgreSQL, shapely in
process on the embedded SQLite default (which cannot load SpatiaLite here). Which one serves
an app follows its database; tests run both on the same boundaries and require the same
answers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app


@dataclass(frozen=True)
class Nearest:
    """The closest point of a limit to a point outside it, and the distance in metres."""

    distance_m: float
    long: float
    lat: float


class SpatialBackend(ABC):
    """The spatial questions the gateway asks; ``owner`` is a Boundary or a Service."""

    @abstractmethod
    def boundary_covers(self, boundary: Any, long: float, lat: float) -> bool:
        """Whether a boundary covers the point (a point on the line is inside)."""

    @abstractmethod
    def boundary_covers_many(
        self, boundary: Any, points: Sequence[tuple[float, float]]
    ) -> list[bool]:
        """:meth:`boundary_covers` for many ``(long, lat)`` points at once."""

    @abstractmethod
    def boundary_nearest(self, boundary: Any, long: float, lat: float) -> Nearest:
        """The nearest point of the boundary's lines (outer limits or enclave edges)."""

    @abstractmethod
    def area_covers(self, service: Any, long: float, lat: float) -> bool:
        """Whether a service's own area covers the point."""

    @abstractmethod
    def area_nearest(self, service: Any, long: float, lat: float) -> Nearest:
        """The nearest point of a service's area."""

    @abstractmethod
    def after_boundary_load(self, boundary: Any) -> None:
        """Prepare a newly stored boundary for fast checks (inside its transaction)."""


def backend() -> SpatialBackend:
    """The spatial backend of the current app."""
    return current_app.extensions["open311"]["spatial"]  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    """Pick PostGIS on PostgreSQL, shapely elsewhere."""
    from open311.spatial.postgis import PostgisBackend
    from open311.spatial.shapely_backend import ShapelyBackend

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    chosen = PostgisBackend() if url.startswith("postgresql") else ShapelyBackend()
    app.extensions["open311"]["spatial"] = chosen
