"""WMTS 1.0.0 at /wmts: KVP (`/wmts?SERVICE=WMTS&REQUEST=...`) and RESTful (`/wmts/1.0.0/...`).

    /wmts?SERVICE=WMTS&REQUEST=GetCapabilities             /wmts/1.0.0/WMTSCapabilities.xml
    /wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=..&STYLE=..&FORMAT=..&TILEMATRIXSET=..&TILEMATRIX=..
          &TILEROW=..&TILECOL=..[&TIME=..]
    /wmts/1.0.0/{layer}/{Style}[/{Time}]/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{png|jpg|webp}
    GetFeatureInfo: the GetTile parameters (FORMAT optional) plus I, J, INFOFORMAT, or the tile's path
          followed by /{J}/{I}.{json|txt|html}

A thin adapter over the same operation as XYZ tiles (Services.overviews.images_for_map, then
rendering.rendered_response, which gives ETag/304/Cache-Control): a WMTS tile and the XYZ tile of
the same matrix, row and column have the same pixels. The render parameters (bands, expression,
rescale, gain, gamma, colormap, resampling, nodata) are vendor parameters, on KVP requests in any
case and in the query string of RESTful URLs; STYLE is the `style` preset ("default": none).

Time (collection layers with dated images): an acquisition time of the capabilities' list, a day,
or `start/end`; omitted, it is the Default, the newest acquisition. Image layers have no Time and
ignore one, as WMTS says of undeclared dimensions.

Tiles are checked against the matrix and, at the zooms the capabilities list in
TileMatrixSetLimits, against the layer's tiles: outside is TileOutOfRange. Zooms beyond those
limits are drawn (transparent outside the images), so a client may zoom past the native resolution.
Errors are OWS 1.1 exception reports (ows_exceptions.py): 400/501 for KVP; for RESTful URLs, 404
when a path segment names nothing and 400 for a bad query parameter; any other error with the status
and Retry-After web/problems.py gives it on every surface (NoApplicableCode: 410 for an image whose
file is missing, 503 for an outage or a render past its deadline, 401 for a refused token...). A
collection's lost images are skipped and named in the X-Cogbrowser-Missing-Images header
(web/rendering.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import morecantile
from flask import Blueprint, Response, request, url_for
from werkzeug.exceptions import HTTPException

from cogbrowser.errors import InvalidInput
from cogbrowser.layers import Layer, MosaicChoice, MosaicError, images_for_area, value_at
from cogbrowser.ogc.common import (
    capabilities_response,
    dimension_time,
    lookup_layer,
    mosaic_of,
    pixel_area,
    render_params,
)
from cogbrowser.ogc.feature_info import PointValues, feature_info_response
from cogbrowser.ogc.ows_exceptions import OWSException, exception_response
from cogbrowser.ogc.wmts_capabilities import (
    DEFAULT_STYLE,
    INFO_FORMATS,
    OPERATIONS,
    TILE_FORMATS,
    ServiceUrls,
    capabilities_document,
    describe_layers,
    layer_styles,
)
from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.budget import RenderTooCostly
from cogbrowser.raster.colormaps import ColormapError
from cogbrowser.raster.expression import ExpressionError
from cogbrowser.raster.render_spec import RenderSpec, RenderSpecError
from cogbrowser.tile_grid import (
    TILE_MATRIX_SETS,
    TILE_SIZE,
    advertised_bounds,
    tile_bounds,
    tile_limits,
    zoom_range,
)
from cogbrowser.web.context import services
from cogbrowser.web.problems import answered_problem
from cogbrowser.web.rendering import missing_images_headers, rendered_response

blueprint = Blueprint("wmts", __name__)

VERSION = "1.0.0"
# In a RESTful URL these parameters are path segments: a value that names nothing is a 404.
PATH_PARAMETERS = frozenset({"LAYER", "STYLE", "TIME", "TILEMATRIXSET", "TILEMATRIX", "TILEROW", "TILECOL",
                             "J", "I", "FORMAT", "INFOFORMAT"})


@dataclass(frozen=True)
class TileAddress:
    """One tile of one layer, checked: the layer, its style, the grid position and, for a collection,
    the acquisitions drawn (Time and the mosaic's vendor parameters)."""

    layer: Layer
    style: str
    tms: morecantile.TileMatrixSet
    zoom: int
    row: int
    col: int
    mosaic: MosaicChoice

    @property
    def bounds(self) -> Bounds:
        return tile_bounds(self.tms, self.zoom, self.col, self.row)


# -- routes ---------------------------------------------------------------------------------
@blueprint.get("/wmts")
def kvp() -> Response:
    """The KVP binding: parameter names in any case, REQUEST picks the operation."""
    params = {key.upper(): value for key, value in request.args.items()}
    operation = _operation(params)
    if operation == "GetCapabilities":
        return _capabilities()
    if operation == "GetTile":
        return _get_tile(params)
    return _get_feature_info(params)


@blueprint.get("/wmts/1.0.0/WMTSCapabilities.xml")
def rest_capabilities() -> Response:
    return _capabilities()


@blueprint.get("/wmts/1.0.0/<layer>/<style>/<tms_id>/<matrix>/<row>/<col>.<ext>")
@blueprint.get("/wmts/1.0.0/<layer>/<style>/<time>/<tms_id>/<matrix>/<row>/<col>.<ext>")
def rest_tile(layer: str, style: str, tms_id: str, matrix: str, row: str, col: str, ext: str,
              time: str | None = None) -> Response:
    fmt = _extension(ext, TILE_FORMATS, "FORMAT")
    return _get_tile({**_path_params(layer, style, time, tms_id, matrix, row, col), "FORMAT": fmt})


@blueprint.get("/wmts/1.0.0/<layer>/<style>/<tms_id>/<matrix>/<row>/<col>/<j>/<i>.<ext>")
@blueprint.get("/wmts/1.0.0/<layer>/<style>/<time>/<tms_id>/<matrix>/<row>/<col>/<j>/<i>.<ext>")
def rest_feature_info(layer: str, style: str, tms_id: str, matrix: str, row: str, col: str, j: str, i: str,
                      ext: str, time: str | None = None) -> Response:
    info_format = _extension(ext, INFO_FORMATS, "INFOFORMAT")
    return _get_feature_info({**_path_params(layer, style, time, tms_id, matrix, row, col),
                              "J": j, "I": i, "INFOFORMAT": info_format})


@blueprint.get("/wmts/<path:path>")
def rest_unknown(path: str) -> Response:
    return exception_response(OWSException(
        "InvalidParameterValue", f"no WMTS resource at /wmts/{path}; the RESTful URLs are listed in "
        "/wmts/1.0.0/WMTSCapabilities.xml"), status=404)


@blueprint.errorhandler(Exception)
def error_answer(exc: Exception) -> Response | HTTPException:
    """Every error of the service, and a refusal before it ran (the access check), as an exception
    report: an OWSException as raised (404 for a RESTful path that names nothing), any other as
    web/problems.py answers it (`OWSException.answering`)."""
    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, OWSException):
        restful = request.endpoint != "wmts.kvp"
        return exception_response(exc, status=404 if restful and exc.locator in PATH_PARAMETERS else None)
    return exception_response(OWSException.answering(answered_problem(exc)))


# -- operations -----------------------------------------------------------------------------
def _operation(params: Mapping[str, str]) -> str:
    """The operation a KVP request asks for, after checking SERVICE and the version."""
    service = _required(params, "SERVICE")
    if service.upper() != "WMTS":
        raise OWSException("InvalidParameterValue", f"SERVICE must be WMTS, not {service!r}", "SERVICE")
    name = _required(params, "REQUEST")
    operation = {op.lower(): op for op in OPERATIONS}.get(name.lower())
    if operation is None:
        raise OWSException("OperationNotSupported", f"REQUEST {name!r} is not offered "
                           "(use GetCapabilities, GetTile or GetFeatureInfo)", "REQUEST")
    if operation == "GetCapabilities":
        accepted = params.get("ACCEPTVERSIONS")
        if accepted and VERSION not in [v.strip() for v in accepted.split(",")]:
            raise OWSException("VersionNegotiationFailed", f"this server speaks WMTS {VERSION} only",
                               "ACCEPTVERSIONS")
    elif params.get("VERSION", VERSION) != VERSION:
        raise OWSException("InvalidParameterValue", f"VERSION must be {VERSION}, not {params['VERSION']!r}",
                           "VERSION")
    return operation


def _capabilities() -> Response:
    """The ServiceMetadata of the whole catalog, with every URL on the requesting host."""
    kvp_url = url_for("wmts.kvp", _external=True)
    urls = ServiceUrls(kvp=kvp_url, rest=f"{kvp_url}/{VERSION}")
    with services().db.connection() as conn:
        layers = describe_layers(conn, TILE_MATRIX_SETS)
    return capabilities_response(capabilities_document(layers, TILE_MATRIX_SETS, urls), "application/xml")


def _get_tile(params: Mapping[str, str | None]) -> Response:
    """GetTile: the tile rendered exactly as the XYZ tile of the same position."""
    address = _tile_address(params)
    fmt = _choice(params, "FORMAT", TILE_FORMATS)
    spec = _spec(address)
    images = services().overviews.images_for_map(address.layer, address.tms.rasterio_crs, address.bounds,
                                                 TILE_SIZE, TILE_SIZE, address.mosaic, spec)
    try:
        return rendered_response(images, spec, address.tms.rasterio_crs, address.bounds, TILE_SIZE, TILE_SIZE,
                                 TILE_FORMATS[fmt], mosaic=address.layer.is_collection)
    except InvalidInput as exc:  # the reader checks what the spec cannot: whether nodata fits the dtype
        raise _render_error(exc, default_locator="nodata") from None


def _get_feature_info(params: Mapping[str, str | None]) -> Response:
    """GetFeatureInfo: raw values of the topmost image with data under pixel (I, J) of the tile.

    FORMAT (the tile's) is optional here: GDAL's WMTS driver does not send it.
    """
    address = _tile_address(params)
    if params.get("FORMAT") is not None:
        _choice(params, "FORMAT", TILE_FORMATS)
    x, y, pixel = pixel_area(address.bounds, TILE_SIZE, TILE_SIZE, _pixel_index(params, "I"),
                             _pixel_index(params, "J"))
    info_format = _choice(params, "INFOFORMAT", INFO_FORMATS)
    spec = _spec(address)
    images = services().images_on_disk(images_for_area(services().db, address.layer, address.tms.rasterio_crs, pixel,
                                                        address.mosaic), address.layer.is_collection)
    found = value_at(images.images, images.files, address.tms.rasterio_crs, x, y, spec.nodata)
    lon, lat = address.tms.lnglat(x, y)
    features = [PointValues(address.layer.id, lon, lat, *found)] if found else []
    answer = feature_info_response(info_format, [address.layer.id], features, f"lon {lon:.6f}, lat {lat:.6f}")
    answer.headers.update(missing_images_headers(images.missing))
    return answer


# -- parameters -----------------------------------------------------------------------------
def _required(params: Mapping[str, str | None], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise OWSException("MissingParameterValue", f"{name} is required", name)
    return value


def _choice(params: Mapping[str, str | None], name: str, choices: Mapping[str, str]) -> str:
    """A parameter that must be one of `choices` (MIME types); returns it."""
    value = _required(params, name)
    if value not in choices:
        raise OWSException("InvalidParameterValue", f"{name} {value!r} is not offered (use {', '.join(choices)})",
                           name)
    return value


def _extension(ext: str, formats: Mapping[str, str], name: str) -> str:
    """The MIME type of a RESTful URL's extension (.png, .json, ...)."""
    by_extension = {extension: mime for mime, extension in formats.items()}
    if ext.lower() not in by_extension:
        raise OWSException("InvalidParameterValue", f"unknown extension .{ext} (use "
                           f"{', '.join('.' + e for e in by_extension)})", name)
    return by_extension[ext.lower()]


def _path_params(layer: str, style: str, time: str | None, tms_id: str, matrix: str, row: str,
                 col: str) -> dict[str, str | None]:
    return {"LAYER": layer, "STYLE": style, "TIME": time, "TILEMATRIXSET": tms_id, "TILEMATRIX": matrix,
            "TILEROW": row, "TILECOL": col}


def _tile_address(params: Mapping[str, str | None]) -> TileAddress:
    """Every tile parameter checked, in the order a person reads a request."""
    layer = _layer(_required(params, "LAYER"))
    style = _style(layer, _required(params, "STYLE"))
    tms_id = _required(params, "TILEMATRIXSET")
    if tms_id not in TILE_MATRIX_SETS:
        raise OWSException("InvalidParameterValue", f"unknown TILEMATRIXSET {tms_id!r} "
                           f"(use {', '.join(TILE_MATRIX_SETS)})", "TILEMATRIXSET")
    tms = TILE_MATRIX_SETS[tms_id]
    zoom = _zoom(tms, tms_id, _required(params, "TILEMATRIX"))
    row, col = _whole_number(params, "TILEROW"), _whole_number(params, "TILECOL")
    _check_tile(layer, tms, zoom, row, col)
    return TileAddress(layer, style, tms, zoom, row, col, _mosaic(layer, params.get("TIME")))


def _layer(name: str) -> Layer:
    return lookup_layer(name, lambda message: OWSException("InvalidParameterValue", f"LAYER: {message}", "LAYER"))


def _style(layer: Layer, name: str) -> str:
    """The style's identifier as the capabilities spell it; an empty STYLE is the default."""
    styles = [identifier for identifier, _ in layer_styles(layer)]
    for identifier in styles:
        if identifier.lower() == (name.strip() or DEFAULT_STYLE).lower():
            return identifier
    raise OWSException("InvalidParameterValue", f"layer {layer.id!r} has no style {name!r} "
                       f"(styles: {', '.join(styles)})", "STYLE")


def _zoom(tms: morecantile.TileMatrixSet, tms_id: str, identifier: str) -> int:
    ids = [matrix.id for matrix in tms.tileMatrices]
    if identifier not in ids:
        raise OWSException("InvalidParameterValue", f"{tms_id} has no tile matrix {identifier!r} "
                           f"(use {ids[0]}..{ids[-1]})", "TILEMATRIX")
    return ids.index(identifier) + tms.minzoom


def _whole_number(params: Mapping[str, str | None], name: str) -> int:
    """TILEROW, TILECOL, I or J: ASCII digits only (str.isdigit also accepts e.g. '²', int() does not)."""
    text = _required(params, name)
    if not (text.isascii() and text.isdigit()):
        raise OWSException("InvalidParameterValue", f"{name} must be a whole number >= 0, not {text!r}", name)
    return int(text)


def _check_tile(layer: Layer, tms: morecantile.TileMatrixSet, zoom: int, row: int, col: int) -> None:
    """TileOutOfRange outside the matrix, or outside the layer's limits at the zooms they list."""
    matrix = tms.matrix(zoom)
    for name, value, size in (("TILEROW", row, matrix.matrixHeight), ("TILECOL", col, matrix.matrixWidth)):
        if value >= size:
            raise OWSException("TileOutOfRange", f"{name} {value} is outside tile matrix {matrix.id} "
                               f"(0..{size - 1})", name)
    minzoom, maxzoom = zoom_range(layer.image, tms)
    if not minzoom <= zoom <= maxzoom:
        return
    limits = tile_limits(tms, advertised_bounds(layer), zoom)
    if not limits.min_row <= row <= limits.max_row:
        raise OWSException("TileOutOfRange", f"TILEROW {row} is outside layer {layer.id!r} at tile matrix "
                           f"{matrix.id} ({limits.min_row}..{limits.max_row})", "TILEROW")
    if not limits.min_col <= col <= limits.max_col:
        raise OWSException("TileOutOfRange", f"TILECOL {col} is outside layer {layer.id!r} at tile matrix "
                           f"{matrix.id} ({limits.min_col}..{limits.max_col})", "TILECOL")


def _mosaic(layer: Layer, time_text: str | None) -> MosaicChoice:
    """The Time filter (common.dimension_time: without one, the Default, the newest acquisition),
    with the mosaic's vendor parameters (common.mosaic_of) from the query string."""
    try:
        time = dimension_time(layer, time_text)
    except InvalidInput as exc:
        raise OWSException("InvalidParameterValue", str(exc), "TIME") from None
    try:
        return mosaic_of(layer, time, request.args.items(multi=True))
    except MosaicError as exc:
        raise OWSException("InvalidParameterValue", str(exc), exc.parameter) from None


def _pixel_index(params: Mapping[str, str | None], name: str) -> int:
    """I (column) or J (row) of a pixel of the tile."""
    index = _whole_number(params, name)
    if index >= TILE_SIZE:
        raise OWSException("PointIJOutOfRange", f"{name} {index} is outside the tile (0..{TILE_SIZE - 1})", name)
    return index


def _spec(address: TileAddress) -> RenderSpec:
    """The render parameters: vendor parameters (any case) and the tile's style."""
    try:
        return address.layer.spec(render_params(request.args.items(multi=True), address.style))
    except InvalidInput as exc:
        raise _render_error(exc) from None


def _render_error(exc: InvalidInput, default_locator: str | None = None) -> OWSException:
    """A refused render parameter as InvalidParameterValue, located at the parameter when known."""
    locator = exc.parameter if isinstance(exc, RenderSpecError) else default_locator
    if isinstance(exc, RenderTooCostly):
        locator = None  # the request as a whole, not one parameter
    if locator is None and isinstance(exc, ColormapError):
        locator = "colormap"
    if locator is None and isinstance(exc, ExpressionError):
        locator = "expression"
    return OWSException("InvalidParameterValue", str(exc), locator)
