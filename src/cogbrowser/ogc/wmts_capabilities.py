"""The WMTS 1.0.0 ServiceMetadata document (GetCapabilities), built from the catalog.

Every layer of the catalog (`layers.list_layers`: collections with images, then images) is a WMTS
layer with its styles (the collection's presets and "default"), tile and info formats, a Time
dimension for dated collections, links to both tile matrix sets restricted to the layer's tiles and
zooms (the same ones TileJSON advertises: tile_grid.py), and RESTful URL templates:

    {rest}/{layer}/{Style}[/{Time}]/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{png|jpg|webp}
    {rest}/{layer}/{Style}[/{Time}]/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}/{J}/{I}.{json|txt|html}

where `{rest}` is `.../wmts/1.0.0` on the requesting host and `/{Time}` is present exactly for
layers with a Time dimension. The layer id is written into the template, not a variable: clients
(GDAL, OWSLib) substitute only Style, TileMatrixSet, TileMatrix, TileRow, TileCol, I, J and the
dimensions.

Axis order: TopLeftCorner and BoundingBox corners follow the CRS's axis order, as WMTS requires.
WorldCRS84Quad is declared in urn:ogc:def:crs:OGC:1.3:CRS84 (longitude, latitude), which GDAL,
QGIS and OWSLib all read as lon/lat; EPSG:4326 would demand lat/lon corners, a classic source of
swapped maps. The XML uses the conventional prefixes (`ows:`, `xlink:`, WMTS as the default
namespace) because QGIS looks elements up by those qualified names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import morecantile

from cogbrowser.catalog.database import Connection
from cogbrowser.layers import DEFAULT_STYLE, Layer, list_layers
from cogbrowser.ogc.common import time_values
from cogbrowser.raster.bbox import Bounds
from cogbrowser.tile_grid import (
    advertised_bounds,
    tile_limits,
    tms_bounds,
    zoom_range,
)

WMTS_NAMESPACE = "http://www.opengis.net/wmts/1.0"
OWS_NAMESPACE = "http://www.opengis.net/ows/1.1"
XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

TILE_FORMATS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}  # MIME type -> extension
INFO_FORMATS = {"application/json": "json", "text/plain": "txt", "text/html": "html"}
CRS_URNS = {"WebMercatorQuad": "urn:ogc:def:crs:EPSG::3857", "WorldCRS84Quad": "urn:ogc:def:crs:OGC:1.3:CRS84"}
# WorldCRS84Quad gets none: GoogleCRS84Quad's level 0 is one square tile, clients could take it as the grid.
WELL_KNOWN_SCALE_SETS = {"WebMercatorQuad": "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"}
OPERATIONS = ("GetCapabilities", "GetTile", "GetFeatureInfo")


@dataclass(frozen=True)
class LayerDescription:
    """What the capabilities say of one layer; `times` are the Time values, oldest first."""

    id: str
    title: str
    abstract: str
    bounds: Bounds
    styles: tuple[tuple[str, str], ...]  # (identifier, title), the default first
    times: tuple[str, ...]
    zooms: Mapping[str, tuple[int, int]]  # tile matrix set id -> (min zoom, max zoom)


@dataclass(frozen=True)
class ServiceUrls:
    """The service's own URLs on the requesting host: `kvp` is /wmts, `rest` is /wmts/1.0.0."""

    kvp: str
    rest: str

    @property
    def capabilities(self) -> str:
        return f"{self.rest}/WMTSCapabilities.xml"


def layer_styles(layer: Layer) -> tuple[tuple[str, str], ...]:
    """(identifier, title) of the styles the layer can draw, the default first (as WMS lists them)."""
    return tuple((name, title) for name, title, _ in layer.styles())


def describe_layers(conn: Connection,
                    tile_matrix_sets: Mapping[str, morecantile.TileMatrixSet]) -> list[LayerDescription]:
    """Every catalog layer as the capabilities describe it."""
    return [_describe(conn, layer, tile_matrix_sets) for layer in list_layers(conn)]


def _describe(conn: Connection, layer: Layer,
              tile_matrix_sets: Mapping[str, morecantile.TileMatrixSet]) -> LayerDescription:
    return LayerDescription(
        id=layer.id, title=layer.title, abstract=layer.abstract, bounds=advertised_bounds(layer),
        styles=layer_styles(layer), times=time_values(conn, layer),
        zooms={tms_id: zoom_range(layer.image, tms) for tms_id, tms in tile_matrix_sets.items()})


def tile_template(rest: str, layer: LayerDescription, extension: str) -> str:
    """The RESTful tile URL template of `layer` (see the module docstring)."""
    time = "{Time}/" if layer.times else ""
    return f"{rest}/{layer.id}/{{Style}}/{time}{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.{extension}"


def feature_info_template(rest: str, layer: LayerDescription, extension: str) -> str:
    """The RESTful FeatureInfo URL template of `layer`: the tile's path, then /{J}/{I}."""
    return tile_template(rest, layer, extension).rsplit(".", 1)[0] + f"/{{J}}/{{I}}.{extension}"


# -- the document --------------------------------------------------------------------------
def capabilities_document(layers: Sequence[LayerDescription],
                          tile_matrix_sets: Mapping[str, morecantile.TileMatrixSet], urls: ServiceUrls) -> bytes:
    """The ServiceMetadata XML. Element names carry their prefix literally and the namespaces are
    declared on the root, so no process-wide ElementTree prefix registration is needed."""
    root = ET.Element("Capabilities", {"xmlns": WMTS_NAMESPACE, "xmlns:ows": OWS_NAMESPACE,
                                       "xmlns:xlink": XLINK_NAMESPACE, "version": "1.0.0"})
    _service_identification(root)
    _operations_metadata(root, urls)
    contents = _sub(root, "Contents")
    for layer in layers:
        _layer(contents, layer, tile_matrix_sets, urls.rest)
    for tms_id, tms in tile_matrix_sets.items():
        _tile_matrix_set(contents, tms_id, tms)
    _sub(root, "ServiceMetadataURL", **{"xlink:href": urls.capabilities})
    return XML_DECLARATION + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _number(value: float) -> str:
    """Full precision, shortest form: clients recompute tile origins from these numbers."""
    return repr(float(value))


def _corners(parent: ET.Element, tag: str, box: Bounds, crs: str | None = None) -> None:
    element = _sub(parent, tag, **({"crs": crs} if crs else {}))
    _sub(element, "ows:LowerCorner", f"{_number(box[0])} {_number(box[1])}")
    _sub(element, "ows:UpperCorner", f"{_number(box[2])} {_number(box[3])}")


def _service_identification(root: ET.Element) -> None:
    identification = _sub(root, "ows:ServiceIdentification")
    _sub(identification, "ows:Title", "cogbrowser")
    _sub(identification, "ows:Abstract", "Cloud Optimized GeoTIFFs of the cogbrowser catalog as map tiles. "
         "Layers are image ids and collection ids (mosaics, newest on top). Vendor parameters on GetTile: "
         "bands, expression, rescale, gain, gamma, colormap, resampling, nodata.")
    _sub(identification, "ows:ServiceType", "OGC WMTS")
    _sub(identification, "ows:ServiceTypeVersion", "1.0.0")
    _sub(identification, "ows:Fees", "none")
    _sub(identification, "ows:AccessConstraints", "none")


def _operations_metadata(root: ET.Element, urls: ServiceUrls) -> None:
    """Each operation in both encodings: KVP on /wmts, RESTful under /wmts/1.0.0."""
    metadata = _sub(root, "ows:OperationsMetadata")
    rest_urls = {"GetCapabilities": urls.capabilities}
    for name in OPERATIONS:
        http = _sub(_sub(_sub(metadata, "ows:Operation", name=name), "ows:DCP"), "ows:HTTP")
        for href, encoding in ((f"{urls.kvp}?", "KVP"), (rest_urls.get(name, f"{urls.rest}/"), "RESTful")):
            constraint = _sub(_sub(http, "ows:Get", **{"xlink:href": href}), "ows:Constraint", name="GetEncoding")
            _sub(_sub(constraint, "ows:AllowedValues"), "ows:Value", encoding)


def _layer(contents: ET.Element, layer: LayerDescription,
           tile_matrix_sets: Mapping[str, morecantile.TileMatrixSet], rest: str) -> None:
    element = _sub(contents, "Layer")
    _sub(element, "ows:Title", layer.title)
    _sub(element, "ows:Abstract", layer.abstract)
    _corners(element, "ows:WGS84BoundingBox", layer.bounds)
    _sub(element, "ows:Identifier", layer.id)
    for tms_id, tms in tile_matrix_sets.items():  # GDAL takes the extent from the box in the TMS's CRS
        _corners(element, "ows:BoundingBox", tms_bounds(tms, layer.bounds), CRS_URNS[tms_id])
    for identifier, title in layer.styles:
        style = _sub(element, "Style", **({"isDefault": "true"} if identifier == DEFAULT_STYLE else {}))
        _sub(style, "ows:Title", title)
        _sub(style, "ows:Identifier", identifier)
    for mime in TILE_FORMATS:
        _sub(element, "Format", mime)
    for mime in INFO_FORMATS:
        _sub(element, "InfoFormat", mime)
    if layer.times:
        _time_dimension(element, layer.times)
    for tms_id, tms in tile_matrix_sets.items():
        _tile_matrix_set_link(element, tms_id, tms, layer)
    for mime, extension in TILE_FORMATS.items():
        _sub(element, "ResourceURL", format=mime, resourceType="tile", template=tile_template(rest, layer, extension))
    for mime, extension in INFO_FORMATS.items():
        _sub(element, "ResourceURL", format=mime, resourceType="FeatureInfo",
             template=feature_info_template(rest, layer, extension))


def _time_dimension(layer: ET.Element, times: Sequence[str]) -> None:
    dimension = _sub(layer, "Dimension")
    _sub(dimension, "ows:Title", "Acquisition time")
    _sub(dimension, "ows:Abstract", "An acquisition time of the collection's images (default: the newest). "
         "GetTile also takes a day (2024-06-01) or an interval (start/end, '..' for an open end).")
    _sub(dimension, "ows:Identifier", "Time")
    _sub(dimension, "ows:UOM", "ISO8601")
    _sub(dimension, "Default", times[-1])
    for value in times:
        _sub(dimension, "Value", value)


def _tile_matrix_set_link(layer: ET.Element, tms_id: str, tms: morecantile.TileMatrixSet,
                          description: LayerDescription) -> None:
    """The link to a tile matrix set, limited to the tiles and zooms the layer has (as TileJSON)."""
    link = _sub(layer, "TileMatrixSetLink")
    _sub(link, "TileMatrixSet", tms_id)
    set_limits = _sub(link, "TileMatrixSetLimits")
    minzoom, maxzoom = description.zooms[tms_id]
    for zoom in range(minzoom, maxzoom + 1):
        limits = tile_limits(tms, description.bounds, zoom)
        element = _sub(set_limits, "TileMatrixLimits")
        _sub(element, "TileMatrix", tms.matrix(zoom).id)
        _sub(element, "MinTileRow", str(limits.min_row))
        _sub(element, "MaxTileRow", str(limits.max_row))
        _sub(element, "MinTileCol", str(limits.min_col))
        _sub(element, "MaxTileCol", str(limits.max_col))


def _tile_matrix_set(contents: ET.Element, tms_id: str, tms: morecantile.TileMatrixSet) -> None:
    """A tile matrix set as morecantile defines it; corners in the CRS's own axis order."""
    element = _sub(contents, "TileMatrixSet")
    _sub(element, "ows:Title", tms.title or tms_id)
    _sub(element, "ows:Identifier", tms_id)
    _corners(element, "ows:BoundingBox", tuple(tms.xy_bbox), CRS_URNS[tms_id])
    _sub(element, "ows:SupportedCRS", CRS_URNS[tms_id])
    if tms_id in WELL_KNOWN_SCALE_SETS:
        _sub(element, "WellKnownScaleSet", WELL_KNOWN_SCALE_SETS[tms_id])
    for matrix in tms.tileMatrices:
        tile_matrix = _sub(element, "TileMatrix")
        _sub(tile_matrix, "ows:Identifier", matrix.id)
        _sub(tile_matrix, "ScaleDenominator", _number(matrix.scaleDenominator))
        _sub(tile_matrix, "TopLeftCorner", " ".join(_number(v) for v in matrix.pointOfOrigin))
        _sub(tile_matrix, "TileWidth", str(matrix.tileWidth))
        _sub(tile_matrix, "TileHeight", str(matrix.tileHeight))
        _sub(tile_matrix, "MatrixWidth", str(matrix.matrixWidth))
        _sub(tile_matrix, "MatrixHeight", str(matrix.matrixHeight))
