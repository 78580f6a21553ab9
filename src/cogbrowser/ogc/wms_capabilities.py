"""WMS capabilities: the catalog described as WMS 1.1.1 (WMT_MS_Capabilities) or 1.3.0 (WMS_Capabilities).

Two steps, so the XML writer never touches the database: `describe_layers` reads the catalog (every
collection with images and every image is a named layer, as `list_layers` gives them) into plain
`LayerInfo` values; `capabilities_document` writes them in the dialect of one version.

Choices a GIS user would notice:

- the named layers are flat children of one unnamed root layer (nesting images in their collection
  would make them inherit its TIME dimension and styles, which WMS inheritance rules impose);
- the root offers EPSG:4326, CRS:84, EPSG:3857 and every WGS 84 UTM zone; an image in another
  EPSG CRS (polar stereographic, a national grid) also offers its own;
- a box across the antimeridian is published as -180..180 (EX_GeographicBoundingBox cannot wrap
  in most clients);
- styles are "default" plus the collection's presets that the layer's bands can draw, each with a
  LegendURL to GetLegendGraphic;
- collection layers with dated images have a TIME dimension listing every acquisition time, the
  newest as default;
- nothing points outside this server: no schemaLocation or DTD on schemas.opengis.net (an
  air-gapped client must never try to reach it); namespaces are only names.

The XML is built with ElementTree, so titles with `&` or `<` are escaped. Namespace declarations
are written as attributes, because ElementTree's prefix registry is process-global.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from cogbrowser.catalog.database import Connection
from cogbrowser.layers import Layer, list_layers
from cogbrowser.ogc.common import time_values
from cogbrowser.ogc.wms_params import (
    INFO_FORMATS,
    MAP_FORMATS,
    MAX_LAYERS,
    SUPPORTED_CRS,
    north_first,
)
from cogbrowser.raster.legend import legend_for, legend_size
from cogbrowser.tile_grid import advertised_bounds

WMS_NAMESPACE = "http://www.opengis.net/wms"
XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
SLD_NAMESPACE = "http://www.opengis.net/sld"
CAPABILITIES_TYPES = {"1.1.1": "application/vnd.ogc.wms_xml", "1.3.0": "text/xml"}
EXCEPTION_FORMATS = {
    "1.1.1": ("application/vnd.ogc.se_xml", "application/vnd.ogc.se_inimage", "application/vnd.ogc.se_blank"),
    "1.3.0": ("XML", "INIMAGE", "BLANK"),
}
WORLD = (-180.0, -90.0, 180.0, 90.0)
MERCATOR_MAX_LATITUDE = 85.0511287798066
EARTH_RADIUS = 6378137.0
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class StyleInfo:
    name: str
    title: str
    legend_size: tuple[int, int]


@dataclass(frozen=True)
class LayerInfo:
    """One named layer as the capabilities describe it."""

    name: str
    title: str
    abstract: str
    wgs84: Box  # west, south, east, north within -180..180
    native: tuple[str, Box] | None  # ("EPSG:nnnn", bounds in that CRS) of an image layer
    styles: tuple[StyleInfo, ...]
    times: tuple[str, ...] = ()  # ISO 8601, oldest first; empty: no TIME dimension
    keywords: tuple[str, ...] = ()


# ------------------------------------------------------------------------------ from the catalog

def describe_layers(conn: Connection) -> list[LayerInfo]:
    """Every layer of the catalog (collections first, then images), ready to be written."""
    infos = []
    for layer in list_layers(conn):
        code = native_crs(layer)
        native = (code, layer.image.native_bounds) if code else None
        infos.append(LayerInfo(name=layer.id, title=layer.title, abstract=layer.abstract,
                               wgs84=advertised_bounds(layer), native=native, styles=layer_styles(layer),
                               times=time_values(conn, layer),
                               keywords=tuple(str(n) for n in layer.band_names if n)))
    return infos


def native_crs(layer: Layer) -> str | None:
    """The own CRS an image layer offers besides the service's list ("EPSG:nnnn"), if it has one.

    Collections offer none: their images may be in different CRSs."""
    epsg = None if layer.is_collection else layer.image.epsg
    return f"EPSG:{epsg}" if epsg else None


def layer_styles(layer: Layer) -> tuple[StyleInfo, ...]:
    """The styles the layer can draw, each with the size of its legend (for LegendURL)."""
    bands = layer.image.bands
    return tuple(StyleInfo(name, title, legend_size(legend_for(spec, bands))) for name, title, spec in layer.styles())


# ------------------------------------------------------------------------------ XML

def capabilities_document(version: str, layers: Sequence[LayerInfo], service_url: str, max_size: int) -> bytes:
    """The capabilities XML of `layers` for WMS `version`; every URL in it starts with `service_url`."""
    writer = _Writer(version, service_url)
    root = writer.root()
    writer.service(root, max_size)
    capability = ET.SubElement(root, "Capability")
    writer.requests(capability)
    exception = ET.SubElement(capability, "Exception")
    for fmt in EXCEPTION_FORMATS[version]:
        _text(exception, "Format", fmt)
    writer.root_layer(capability, layers)
    ET.indent(root)  # people read capabilities too; costs ~1 ms per 100 layers
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _number(value: float) -> str:
    return repr(round(float(value), 10))


def mercator_box(box: Box) -> Box:
    """A lon/lat box in EPSG:3857 metres (latitudes clamped to the projection's ±85.05°)."""
    west, south, east, north = box

    def y(lat: float) -> float:
        lat = max(-MERCATOR_MAX_LATITUDE, min(MERCATOR_MAX_LATITUDE, lat))
        return EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    return (EARTH_RADIUS * math.radians(west), y(south), EARTH_RADIUS * math.radians(east), y(north))


class _Writer:
    """Writes the parts of one capabilities document; knows the version's names and axis rules."""

    def __init__(self, version: str, service_url: str) -> None:
        self.version = version
        self.new = version == "1.3.0"
        self.service_url = service_url
        self.crs_tag = "CRS" if self.new else "SRS"

    def root(self) -> ET.Element:
        if self.new:
            return ET.Element("WMS_Capabilities", {"version": "1.3.0", "xmlns": WMS_NAMESPACE,
                                                   "xmlns:xlink": XLINK_NAMESPACE, "xmlns:sld": SLD_NAMESPACE})
        return ET.Element("WMT_MS_Capabilities", {"version": "1.1.1", "xmlns:xlink": XLINK_NAMESPACE})

    def online_resource(self, parent: ET.Element, href: str) -> ET.Element:
        return ET.SubElement(parent, "OnlineResource", {"xlink:type": "simple", "xlink:href": href})

    def service(self, root: ET.Element, max_size: int) -> None:
        service = ET.SubElement(root, "Service")
        _text(service, "Name", "WMS" if self.new else "OGC:WMS")
        _text(service, "Title", "cogbrowser")
        _text(service, "Abstract", "The images and collections of this cogbrowser catalog (Cloud Optimized "
                                   "GeoTIFFs), rendered on request. Render parameters (bands, expression, "
                                   "rescale, colormap, gamma, gain, resampling, nodata) are accepted as vendor "
                                   "parameters of GetMap and GetLegendGraphic.")
        keywords = ET.SubElement(service, "KeywordList")
        for word in ("WMS", "COG", "Earth observation"):
            _text(keywords, "Keyword", word)
        self.online_resource(service, self.service_url)
        _text(service, "Fees", "none")
        _text(service, "AccessConstraints", "none")
        if self.new:
            _text(service, "LayerLimit", str(MAX_LAYERS))
            _text(service, "MaxWidth", str(max_size))
            _text(service, "MaxHeight", str(max_size))

    def requests(self, capability: ET.Element) -> None:
        request = ET.SubElement(capability, "Request")
        operations = (
            ("GetCapabilities", (CAPABILITIES_TYPES[self.version],)),
            ("GetMap", tuple(MAP_FORMATS)),
            ("GetFeatureInfo", INFO_FORMATS),
            ("sld:GetLegendGraphic" if self.new else "GetLegendGraphic", ("image/png",)),
        )
        for name, formats in operations:
            operation = ET.SubElement(request, name)
            for fmt in formats:
                _text(operation, "Format", fmt)
            get = ET.SubElement(ET.SubElement(ET.SubElement(operation, "DCPType"), "HTTP"), "Get")
            self.online_resource(get, self.service_url + "?")

    def root_layer(self, capability: ET.Element, layers: Sequence[LayerInfo]) -> None:
        root = ET.SubElement(capability, "Layer")
        _text(root, "Title", "cogbrowser catalog")
        _text(root, "Abstract", "Every collection (a mosaic of its images) and every image of the catalog.")
        for code in SUPPORTED_CRS:
            _text(root, self.crs_tag, code)
        box = _union([layer.wgs84 for layer in layers]) if layers else WORLD
        self.geographic_box(root, box)
        self.bounding_boxes(root, box, None)
        for layer in layers:
            self.layer(root, layer)

    def layer(self, parent: ET.Element, info: LayerInfo) -> None:
        element = ET.SubElement(parent, "Layer", queryable="1", opaque="0")
        _text(element, "Name", info.name)
        _text(element, "Title", info.title)
        _text(element, "Abstract", info.abstract)
        if info.keywords:
            keywords = ET.SubElement(element, "KeywordList")
            for word in info.keywords:
                _text(keywords, "Keyword", word)
        if info.native and info.native[0] not in SUPPORTED_CRS:
            _text(element, self.crs_tag, info.native[0])
        self.geographic_box(element, info.wgs84)
        self.bounding_boxes(element, info.wgs84, info.native)
        if info.times:
            self.time_dimension(element, info.times)
        for style in info.styles:
            self.style(element, info.name, style)

    def geographic_box(self, element: ET.Element, box: Box) -> None:
        west, south, east, north = (_number(v) for v in box)
        if self.new:
            geographic = ET.SubElement(element, "EX_GeographicBoundingBox")
            for tag, value in zip(("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude",
                                   "northBoundLatitude"), (west, east, south, north)):
                _text(geographic, tag, value)
        else:
            ET.SubElement(element, "LatLonBoundingBox", minx=west, miny=south, maxx=east, maxy=north)

    def bounding_boxes(self, element: ET.Element, wgs84: Box, native: tuple[str, Box] | None) -> None:
        boxes = [("EPSG:4326", wgs84), ("EPSG:3857", mercator_box(wgs84))]
        if self.new:
            boxes.insert(0, ("CRS:84", wgs84))
        if native:
            boxes.append(native)
        for code, box in boxes:
            minx, miny, maxx, maxy = box
            if self.new and north_first(code):  # 1.3.0 writes EPSG:4326 boxes as lat,lon
                minx, miny, maxx, maxy = miny, minx, maxy, maxx
            ET.SubElement(element, "BoundingBox", {self.crs_tag: code, "minx": _number(minx),
                                                   "miny": _number(miny), "maxx": _number(maxx),
                                                   "maxy": _number(maxy)})

    def time_dimension(self, element: ET.Element, times: Sequence[str]) -> None:
        attributes = {"name": "time", "units": "ISO8601"}
        extent = {"default": times[-1], "nearestValue": "0", "multipleValues": "0"}
        if self.new:
            _text(element, "Dimension", ",".join(times), **attributes, **extent)
        else:
            ET.SubElement(element, "Dimension", attributes)
            _text(element, "Extent", ",".join(times), name="time", **extent)

    def style(self, element: ET.Element, layer_name: str, style: StyleInfo) -> None:
        node = ET.SubElement(element, "Style")
        _text(node, "Name", style.name)
        _text(node, "Title", style.title)
        width, height = style.legend_size
        legend = ET.SubElement(node, "LegendURL", width=str(width), height=str(height))
        _text(legend, "Format", "image/png")
        query = urlencode({"SERVICE": "WMS", "VERSION": self.version, "REQUEST": "GetLegendGraphic",
                           "FORMAT": "image/png", "LAYER": layer_name, "STYLE": style.name})
        self.online_resource(legend, f"{self.service_url}?{query}")


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
