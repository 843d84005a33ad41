"""The ``/map`` page: requests of a chosen window on a map, coloured by status.

The page is static apart from a small configuration block; everything it shows comes from
the public feeds (``requests.geojson``, ``services.json``) and, when the gateway has it, the
city limits at ``jurisdictions/{id}.geojson``, so the map can show nothing the feeds do not.
Leaflet comes from the npm registry (``web/package.json``, installed by ``make install``) and
is served from ``web/node_modules``; base-map tiles are off unless ``OPEN311_MAP_TILES`` is
set, so the page works offline.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, send_from_directory

from open311.config import Settings
from open311.jurisdictions import all_jurisdictions

bp = Blueprint(
    "map",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/map/static",
)

#: Where ``npm ci --prefix web`` puts Leaflet's built files.
LEAFLET_DIST = Path(__file__).resolve().parents[1] / "web" / "node_modules" / "leaflet" / "dist"
_LEAFLET_FILES = {"leaflet.js", "leaflet.css", "leaflet.js.map"}
#: Downtown Aurora, where the map opens before it knows better.
CENTRE = (41.7606, -88.3201)


@bp.get("/map")
def map_page() -> str:
    """The map page with its configuration (API base, jurisdictions, tiles)."""
    settings: Settings = current_app.extensions["open311"]["settings"]
    config = {
        "api": "/open311/v2",
        "jurisdictions": [j.jurisdiction_id for j in all_jurisdictions()],
        "tiles": settings.map_tiles,
        "attribution": settings.map_attribution,
        "centre": CENTRE,
    }
    return render_template("map.html", config=config)


@bp.get("/map/vendor/leaflet/<name>")
def leaflet(name: str) -> Response:
    """Leaflet's script and style sheet, from the npm package."""
    if name not in _LEAFLET_FILES or not (LEAFLET_DIST / name).is_file():
        abort(404)
    return send_from_directory(LEAFLET_DIST, name, max_age=3600)


def init_app(app: object) -> None:
    """Register the page."""
    app.register_blueprint(bp)  # type: ignore[attr-defined]
