"""Make the offline basemap shipped in src/cogbrowser/ui/basemap/ from Natural Earth's TopoJSON.

The source is the npm package world-atlas 2.0.2 (Natural Earth 1:50m and 1:110m, public domain;
the package is ISC), fetched on a connected machine with `npm pack world-atlas@2.0.2` and unpacked:

    python tools/make_basemap.py path/to/world-atlas/package

It writes GeoJSON with coordinates rounded to 0.001° (about 100 m; 1:50m data is no finer):
countries-50m.geojson and countries-110m.geojson (polygons with their names, drawn filled with
their borders) and land-50m.geojson (land polygons, whose outlines are the coastlines).

Natural Earth's rings that cross the antimeridian (Russia, Fiji) jump from +180 to -180 and back,
which a spherical renderer (d3) cuts but a flat map (Leaflet) draws as a band across the world;
`continuous` rewrites them with longitudes past +-180. Rings around a pole (Antarctica) stay as they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "cogbrowser" / "ui" / "basemap"


def decode_arcs(topology: dict) -> list[list[list[float]]]:
    """Absolute lon/lat positions of every arc (TopoJSON quantized, delta-encoded arcs)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append([round(x * sx + tx, 3), round(y * sy + ty, 3)])
        arcs.append(points)
    return arcs


def ring(indexes: list[int], arcs: list) -> list[list[float]]:
    points: list[list[float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])
    return points


def continuous(points: list[list[float]]) -> list[list[float]]:
    """The ring with no step longer than 180 degrees of longitude (so Leaflet draws no band across
    the map), shifted by whole turns to lie mostly in -180..180; a ring that then no longer closes
    goes round a pole and is returned as it was."""
    out, offset = [points[0]], 0.0
    for (x0, _), (x, y) in zip(points, points[1:]):
        offset += 360.0 if x0 - x > 180 else -360.0 if x - x0 > 180 else 0.0
        out.append([x + offset, y])
    if out[-1] != out[0]:
        return points
    xs = sorted(x for x, _ in out)
    turns = round(xs[len(xs) // 2] / 360.0)
    return [[round(x - 360.0 * turns, 3), y] for x, y in out]


def geometry(shape: dict, arcs: list) -> dict | None:
    kind = shape.get("type")
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": [continuous(ring(r, arcs)) for r in shape["arcs"]]}
    if kind == "MultiPolygon":
        return {"type": "MultiPolygon",
                "coordinates": [[continuous(ring(r, arcs)) for r in p] for p in shape["arcs"]]}
    return None


def convert(source: Path, name: str, obj: str, target: str) -> None:
    topology = json.loads((source / name).read_text())
    arcs = decode_arcs(topology)
    features = []
    for shape in topology["objects"][obj]["geometries"]:
        geom = geometry(shape, arcs)
        if geom is not None:
            features.append({"type": "Feature", "properties": {"name": (shape.get("properties") or {}).get("name")},
                             "geometry": geom})
    document = {"type": "FeatureCollection", "features": features}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / target).write_text(json.dumps(document, separators=(",", ":")))
    print(f"{target}: {len(features)} features, {(OUT / target).stat().st_size / 1e6:.1f} MB")


def main() -> None:
    source = Path(sys.argv[1])
    convert(source, "countries-50m.json", "countries", "countries-50m.geojson")
    convert(source, "countries-110m.json", "countries", "countries-110m.geojson")
    convert(source, "land-50m.json", "land", "land-50m.geojson")


if __name__ == "__main__":
    main()
