"""Reading city limits from GeoJSON, refusing anything doubtful rather than repairing it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

_CRS84 = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "EPSG:4326"}


class LimitsError(ValueError):
    """The file does not hold usable limits; the message says why."""


def _geometries(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or "type" not in document:
        raise LimitsError('Not a GeoJSON object (no "type").')
    kind = document["type"]
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise LimitsError("The FeatureCollection has no features.")
        return [g for f in features for g in _geometries(f)]
    if kind == "Feature":
        geometry = document.get("geometry")
        if geometry is None:
            raise LimitsError("A Feature has no geometry.")
        return [geometry]
    if kind in ("Polygon", "MultiPolygon"):
        return [document]
    raise LimitsError(f"Limits must be Polygon or MultiPolygon geometry, not {kind}.")


def _check_crs(document: Any) -> None:
    crs = document.get("crs") if isinstance(document, dict) else None
    if crs is None:
        return
    name = (crs.get("properties") or {}).get("name") if isinstance(crs, dict) else None
    if name not in _CRS84:
        raise LimitsError(
            f"The file declares the coordinate system {name!r}; limits must be WGS84 "
            "longitude/latitude (reproject first, e.g. with ogr2ogr -t_srs EPSG:4326)."
        )


def limits_from_geojson(document: Any) -> MultiPolygon:
    """One valid MultiPolygon from a GeoJSON Feature, FeatureCollection or geometry.

    :raises LimitsError: for other geometry types, empty, invalid or projected geometry.
    """
    _check_crs(document)
    polygons: list[Polygon] = []
    for raw in _geometries(document):
        if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
            kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            raise LimitsError(f"Limits must be Polygon or MultiPolygon geometry, not {kind}.")
        try:
            geometry = shape(raw)
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise LimitsError(f"Malformed {raw.get('type')} coordinates: {exc}") from None
        polygons.extend(geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry])
    limits = MultiPolygon([p for p in polygons if not p.is_empty])
    if limits.is_empty:
        raise LimitsError("The geometry is empty.")
    min_x, min_y, max_x, max_y = limits.bounds
    if min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise LimitsError(
            f"Coordinates reach ({min_x:g}, {min_y:g})-({max_x:g}, {max_y:g}): these are not "
            "longitude/latitude degrees; reproject the file to WGS84 first."
        )
    if not limits.is_valid:
        raise LimitsError(
            f"The geometry is not valid ({shapely.is_valid_reason(limits)}). It was not "
            "repaired: fix the source (e.g. ST_MakeValid, shapely.make_valid) and load it again."
        )
    return limits


def read_limits_file(path: Path) -> MultiPolygon:
    """Read and check a GeoJSON file of limits."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LimitsError(f"{path}: not a readable GeoJSON file: {exc}") from None
    return limits_from_geojson(document)


def as_geojson(geometry: Any) -> dict[str, Any]:
    """GeoJSON of a stored geometry, rings oriented as RFC 7946 asks (outer counter-clockwise)."""
    return mapping(shapely.orient_polygons(geometry, exterior_cw=False))


def counts(limits: MultiPolygon) -> tuple[int, int, int]:
    """Parts, holes and vertices (each ring's closing vertex counted, as TIGER does)."""
    holes = sum(len(p.interiors) for p in limits.geoms)
    return len(limits.geoms), holes, int(shapely.get_num_coordinates(limits))
