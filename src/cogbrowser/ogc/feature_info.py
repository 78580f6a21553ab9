"""GetFeatureInfo answers of WMS and WMTS: the raw pixel values under a clicked point.

A raster "feature" is one image's pixel (`PointValues`: layer, image id, collection, acquisition
time, one value per band by name). WMS may ask several QUERY_LAYERS at once and up to FEATURE_COUNT
features per layer (the images of a mosaic under the point, newest first); WMTS asks one layer and
gets its topmost image. Both are written here, in the info format asked for:

- application/json: a GeoJSON FeatureCollection of Point features whose properties are the layer,
  the image id, its collection, its acquisition time and one property per band (QGIS lists them as
  attributes); NaN and nodata are null;
- text/plain: the same as `name: value` lines, a block per feature;
- text/html: the same as a table per feature (escaped by ElementTree).

A layer with no data at the point gets no feature: an empty answer, not an error, since clicking
beside an image in QGIS must not log exceptions.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Response

from cogbrowser.catalog.records import ImageRecord
from cogbrowser.layers import utc_iso
from cogbrowser.ogc.common import NOT_STORED
from cogbrowser.raster.outputs import band_label

INFO_CONTENT_TYPES = {"application/json": "application/json", "text/plain": "text/plain; charset=utf-8",
                      "text/html": "text/html; charset=utf-8"}


@dataclass(frozen=True)
class PointValues:
    """The values of one image's pixel at a point of a layer (None: no data in that band)."""

    layer: str
    lon: float
    lat: float
    image: ImageRecord
    values: Sequence[float | int | None]

    def properties(self) -> dict[str, object]:
        """Layer, image, collection, acquisition time, then one entry per band."""
        acquired = self.image.acquired_at
        properties: dict[str, object] = {
            "layer": self.layer, "image_id": self.image.id, "collection_id": self.image.collection_id,
            "acquired_at": utc_iso(acquired) if isinstance(acquired, datetime) else None,
        }
        for name, value in zip(band_labels(self.image.bands), self.values):
            properties[name] = value
        return properties


def band_labels(bands: Sequence[dict]) -> list[str]:
    """One label per band, as the point API and expressions name it (its name, or bN); a repeated
    name gets its band number appended."""
    names = [band.get("name") for band in bands]
    labels: list[str] = []
    for index in range(1, len(names) + 1):
        label = band_label(names, index)
        labels.append(f"{label} ({index})" if label in labels else label)
    return labels


def feature_info_response(info_format: str, layers: Sequence[str], features: Sequence[PointValues],
                          where: str) -> Response:
    """The answer listing `features` for `layers`, in `info_format` (a key of INFO_CONTENT_TYPES).

    `where` describes the point in the request's terms (coordinates and CRS), for the text forms.
    """
    writers: dict[str, Callable[[Sequence[str], Sequence[PointValues], str], str | bytes]] = {
        "application/json": _geojson, "text/plain": _text, "text/html": _html}
    body = writers[info_format](layers, features, where)
    return Response(body, content_type=INFO_CONTENT_TYPES[info_format], headers=NOT_STORED)


def _geojson(layers: Sequence[str], features: Sequence[PointValues], where: str) -> str:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f"{f.layer}/{f.image.id}",
         "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]}, "properties": f.properties()}
        for f in features]})


def _text(layers: Sequence[str], features: Sequence[PointValues], where: str) -> str:
    lines = [f"GetFeatureInfo at {where}"]
    for layer in layers:
        found = [f for f in features if f.layer == layer]
        if not found:
            lines += [f"layer: {layer}", "no data at this point", ""]
        for feature in found:
            lines += [f"{name}: {'nodata' if value is None else value}"
                      for name, value in feature.properties().items()]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _html(layers: Sequence[str], features: Sequence[PointValues], where: str) -> bytes:
    root = ET.Element("html")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "meta", charset="utf-8")
    ET.SubElement(head, "title").text = "GetFeatureInfo"
    body = ET.SubElement(root, "body")
    ET.SubElement(body, "p").text = f"GetFeatureInfo at {where}"
    for layer in layers:
        found = [f for f in features if f.layer == layer]
        if not found:
            ET.SubElement(body, "p").text = f"{layer}: no data at this point"
        for feature in found:
            table = ET.SubElement(body, "table", border="1")
            ET.SubElement(table, "caption").text = layer
            for name, value in feature.properties().items():
                row = ET.SubElement(table, "tr")
                ET.SubElement(row, "th").text = str(name)
                ET.SubElement(row, "td").text = "nodata" if value is None else str(value)
    return b"<!DOCTYPE html>\n" + ET.tostring(root, encoding="utf-8", method="html")
