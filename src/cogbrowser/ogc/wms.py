"""WMS 1.1.1 and 1.3.0 at `/wms` (KVP over GET): GetCapabilities, GetMap, GetFeatureInfo, GetLegendGraphic.

A thin adapter, like the XYZ one: it reads the request (wms_params), resolves layers and picks
images through `layers`, renders through the raster core and writes WMS's own answers (capabilities
XML, exception reports, feature info). A layer is an image id, or a collection id drawn as a mosaic
of its images, newest on top; LAYERS are drawn bottom to top in the order given. Our render
parameters (`bands`, `expression`, `rescale`, `colormap`, ...) are vendor parameters of GetMap,
GetFeatureInfo (`nodata`) and GetLegendGraphic; a WMS style is a preset of the layer's collection
("default": the image's own bands and 2-98 % range).

TIME (collection layers): an instant, a day, or `start/end` (`..` or nothing for an open end).
Without TIME a collection layer shows its newest acquisition, the default its capabilities
declare, as WMS requires (the behaviour of GeoServer's mosaics too); `TIME=../..` shows every
acquisition, newest on top. `TIME=current` is the newest.

Every error is a ServiceExceptionReport, or, for a GetMap with EXCEPTIONS=INIMAGE / BLANK, a
picture with the message / an empty picture. The request's faults are answered with HTTP 200 (why:
see ogc/wms_exceptions.py); the others (an image whose file is missing, an outage, a render past its
deadline, a refused token) with the status and Retry-After web/problems.py gives them on every
surface, the picture too. A collection's lost images are skipped and named in the
X-Cogbrowser-Missing-Images header (web/rendering.py). Rendered answers (GetMap, GetLegendGraphic)
carry an ETag and Cache-Control and answer 304 when they can.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import Blueprint, Response, request, url_for
from werkzeug.exceptions import HTTPException

from cogbrowser.catalog.records import ImageRecord
from cogbrowser.errors import InvalidInput
from cogbrowser.layers import (
    Layer,
    MosaicChoice,
    MosaicError,
    TimeRange,
    images_for_area,
    render_layer,
    value_at,
    wgs84_bounds,
)
from cogbrowser.ogc.common import (
    NOT_STORED,
    capabilities_response,
    dimension_time,
    lookup_layer,
    mosaic_of,
    pixel_area,
)
from cogbrowser.ogc.feature_info import PointValues, feature_info_response
from cogbrowser.ogc.wms_capabilities import (
    CAPABILITIES_TYPES,
    capabilities_document,
    describe_layers,
    native_crs,
)
from cogbrowser.ogc.wms_exceptions import WMSError, exception_response
from cogbrowser.ogc.wms_params import (
    INFO_FORMATS,
    MAP_FORMATS,
    SUPPORTED_CRS,
    MapCRS,
    Params,
    exception_mode,
    negotiate_version,
    parse_bbox,
    parse_bgcolor,
    parse_crs,
    parse_feature_count,
    parse_format,
    parse_names,
    parse_optional_size,
    parse_point,
    parse_size,
    parse_styles,
    parse_transparent,
    request_version,
)
from cogbrowser.raster.budget import check_cost
from cogbrowser.raster.compose import encode_map, stack
from cogbrowser.raster.legend import draw_legend, draw_message, legend_for
from cogbrowser.raster.render_spec import RenderSpec, RenderSpecError
from cogbrowser.web.context import services
from cogbrowser.web.problems import answered_problem
from cogbrowser.web.rendering import cached_response, missing_images_headers

blueprint = Blueprint("wms", __name__)

Handler = Callable[[Params, str], Response]


@blueprint.get("/wms")
def service() -> Response:
    """Dispatch on REQUEST."""
    params = Params(request.args)
    service_name = params.get("service")
    if service_name and service_name.upper() != "WMS":
        raise WMSError("InvalidParameterValue", f"SERVICE {service_name!r} is not offered here (use WMS)", "SERVICE")
    return _operation(params)(params, request_version(params))


@blueprint.errorhandler(Exception)
def error_answer(exc: Exception) -> Response | HTTPException:
    """Every error of the service, and a refusal before it ran (the access check), as WMS says it:
    a WMSError as raised, any other as web/problems.py answers it (`WMSError.answering`); in the
    report of the request's version, or for a GetMap with EXCEPTIONS=INIMAGE/BLANK in a picture."""
    if isinstance(exc, HTTPException):
        return exc
    error = exc if isinstance(exc, WMSError) else WMSError.answering(answered_problem(exc))
    params = Params(request.args)
    mode = exception_mode(params)
    if mode != "xml" and (params.get("request") or "").lower() in ("getmap", "map"):
        picture = _error_picture(params, error, mode)
        if picture is not None:
            return picture
    return exception_response(error, request_version(params))


def _operation(params: Params) -> Handler:
    name = params.required("request")
    handlers: dict[str, Handler] = {
        "getcapabilities": get_capabilities, "capabilities": get_capabilities,
        "getmap": get_map, "map": get_map,
        "getfeatureinfo": get_feature_info, "feature_info": get_feature_info,
        "getlegendgraphic": get_legend_graphic,
    }
    handler = handlers.get(name.lower())
    if handler is None:
        raise WMSError("OperationNotSupported", f"REQUEST {name!r} is not an operation of this WMS (use "
                       f"GetCapabilities, GetMap, GetFeatureInfo or GetLegendGraphic)", "REQUEST")
    return handler


def _max_size() -> int:
    return services().settings.max_image_size


# ------------------------------------------------------------------------------ GetCapabilities

def get_capabilities(params: Params, _: str) -> Response:
    """The catalog's layers, in the version negotiated from VERSION (1.3.0 without one)."""
    version = negotiate_version(params.get("version") or params.get("wmtver"))
    with services().db.connection() as conn:
        layers = describe_layers(conn)
    body = capabilities_document(version, layers, url_for("wms.service", _external=True), _max_size())
    return capabilities_response(body, CAPABILITIES_TYPES[version])


# ------------------------------------------------------------------------------ shared steps


def _layer(name: str, parameter: str = "LAYERS") -> Layer:
    return lookup_layer(name, lambda message: WMSError("LayerNotDefined", message, parameter))


def _spec(layer: Layer, params: Params, style: str | None) -> RenderSpec:
    """The layer's RenderSpec from its WMS style and our vendor render parameters.

    A style the layer cannot draw (unknown, or a preset needing bands it lacks, which the
    capabilities therefore do not list) is StyleNotDefined; any other bad value, InvalidParameterValue.
    """
    values = params.render_params(style)
    requested = values.get("style") or []
    try:
        return layer.spec(values)
    except RenderSpecError as exc:
        if exc.parameter == "style" or (requested and not _drawable(layer, requested)):
            raise WMSError("StyleNotDefined", f"layer {layer.id!r} has no style {requested[-1]!r} it can "
                           f"draw: {exc}", "STYLES") from None
        raise WMSError("InvalidParameterValue", f"layer {layer.id!r}: {exc}", exc.parameter.upper()) from None
    except InvalidInput as exc:  # expression and colormap errors name their parameter in the text
        raise WMSError("InvalidParameterValue", f"layer {layer.id!r}: {exc}") from None


def _drawable(layer: Layer, style: list[str]) -> bool:
    """Whether the layer can draw `style` (a preset, or none) without other parameters."""
    try:
        layer.spec({"style": style})
    except InvalidInput:
        return False
    return True


def _time(layer: Layer, params: Params) -> TimeRange:
    """The acquisitions a layer draws (common.dimension_time); WMS's own: TIME given empty is
    MissingDimensionValue, and `current` (or `present`) is the newest acquisition."""
    text = params.get("time")
    if layer.is_collection and text is not None and not text:
        raise WMSError("MissingDimensionValue", "TIME is given without a value: give a time, a day or "
                       "start/end, or leave TIME out for the newest acquisition", "TIME")
    if text and text.lower() in ("current", "present"):
        text = None
    try:
        return dimension_time(layer, text)
    except InvalidInput as exc:
        raise WMSError("InvalidDimensionValue", str(exc), "TIME") from None


def _mosaic(layer: Layer, params: Params) -> MosaicChoice:
    """A collection layer's acquisitions (TIME) and their order and cloud limit (vendor parameters,
    common.mosaic_of); a bad value is InvalidParameterValue located at its parameter."""
    time = _time(layer, params)
    try:
        return mosaic_of(layer, time, request.args.items(multi=True))
    except MosaicError as exc:
        raise WMSError("InvalidParameterValue", str(exc), exc.parameter.upper()) from None


def _map_crs(params: Params, version: str, layers: Sequence[Layer]) -> MapCRS:
    """The request's CRS, among the service's plus the own CRS of the image layers asked."""
    offered = set(SUPPORTED_CRS) | {code for code in map(native_crs, layers) if code}
    return parse_crs(params, version, offered)


# ------------------------------------------------------------------------------ GetMap

def get_map(params: Params, version: str) -> Response:
    """The map (an error: `error_answer`, a picture for EXCEPTIONS=INIMAGE/BLANK)."""
    names = parse_names(params, "layers")
    styles = parse_styles(params, len(names))
    fmt = parse_format(params, "format", MAP_FORMATS)
    transparent, background = parse_transparent(params), parse_bgcolor(params)
    width, height = parse_size(params, _max_size())
    layers = [_layer(name) for name in names]
    crs = _map_crs(params, version, layers)
    bounds = parse_bbox(params, crs)
    specs = [_spec(layer, params, style) for layer, style in zip(layers, styles)]
    plans = [(spec, services().images_on_disk(services().overviews.images_for_map(
        layer, crs.crs, bounds, width, height, _mosaic(layer, params), spec), layer.is_collection))
             for layer, spec in zip(layers, specs)]

    def draw() -> bytes:
        pictures = (render_layer(found.images, found.files, spec, crs.crs, bounds, width, height)
                    for spec, found in plans)
        return encode_map(stack(pictures), MAP_FORMATS[fmt], background, transparent, (crs.crs, bounds))

    key = repr(("wms", [[i.checksum for i in found.images] for _, found in plans], crs.crs.to_string(), bounds,
                width, height, fmt, transparent, background, sorted(request.args.items(multi=True))))
    missing = [image_id for _, found in plans for image_id in found.missing]
    # Over the render budget, or a value the reader refuses (a nodata the dtype cannot hold): an
    # InvalidInput, which error_answer reports as InvalidParameterValue.
    _check_cost([spec for spec, _ in plans], width * height)
    return cached_response(key, draw, fmt, missing_images_headers(missing))


def _check_cost(specs: Sequence[RenderSpec], pixels: int) -> None:
    """The map's layers against the render budget together, before any of them is read."""
    if len(specs) == 1:
        specs[0].check_cost(pixels, what="this map")
    else:
        check_cost(sum(spec.cost for spec in specs), pixels, what=f"this map of {len(specs)} layers",
                   unit="expression nodes and bands of its layers")


def _error_picture(params: Params, error: WMSError, mode: str) -> Response | None:
    """The message (INIMAGE) or nothing (BLANK) in a picture of the requested size and format, with
    the error's status and headers; None when the request's size or format are themselves wrong (the
    report is sent instead)."""
    try:
        fmt = parse_format(params, "format", MAP_FORMATS)
        width, height = parse_size(params, _max_size())
        transparent, background = parse_transparent(params), parse_bgcolor(params)
    except WMSError:
        return None
    if MAP_FORMATS[fmt] == "tiff":
        return None  # a GeoTIFF without a valid BBOX/CRS could not be georeferenced
    text = f"{error.code_for('1.3.0')}: {error.message}" if mode == "inimage" else ""
    rgba = draw_message(text, width, height, (0, 0, 0, 0))
    return Response(encode_map(rgba, MAP_FORMATS[fmt], background, transparent), status=error.status,
                    content_type=fmt, headers={**NOT_STORED, **error.headers})


# ------------------------------------------------------------------------------ GetFeatureInfo

def get_feature_info(params: Params, version: str) -> Response:
    """The raw values under pixel I/J (X/Y) of the map the request describes, per QUERY_LAYERS."""
    names = parse_names(params, "layers")
    styles = dict(zip(names, parse_styles(params, len(names))))
    queried = parse_names(params, "query_layers")
    info_format = parse_format(params, "info_format", INFO_FORMATS, default="text/plain")
    width, height = parse_size(params, _max_size())
    count = parse_feature_count(params)
    layers = _queried_layers(names, queried)
    crs = _map_crs(params, version, layers)
    bounds = parse_bbox(params, crs)
    x, y, pixel = pixel_area(bounds, width, height, *parse_point(params, width, height))
    features, missing = [], []
    for layer in layers:
        spec = _spec(layer, params, styles[layer.id])
        found = services().images_on_disk(images_for_area(services().db, layer, crs.crs, pixel, _mosaic(layer, params)),
                                          layer.is_collection)
        features += _pixel_values(layer.id, found.images, crs, x, y, spec.nodata, count)
        missing += found.missing
    answer = feature_info_response(info_format, queried, features, f"{x:.10g}, {y:.10g} ({crs.code})")
    answer.headers.update(missing_images_headers(missing))
    return answer


def _queried_layers(names: Sequence[str], queried: Sequence[str]) -> list[Layer]:
    """The QUERY_LAYERS, each of which must exist (LayerNotDefined) and be one of LAYERS."""
    layers = []
    for name in queried:
        layer = _layer(name, "QUERY_LAYERS")
        if name not in names:
            raise WMSError("LayerNotQueryable", f"QUERY_LAYERS names {name!r}, which is not in LAYERS",
                           "QUERY_LAYERS")
        layers.append(layer)
    for name in set(names) - set(queried):
        _layer(name)  # the map's other layers must exist too
    return layers


def _pixel_values(name: str, images: Sequence[ImageRecord], crs: MapCRS, x: float, y: float, nodata: float | None,
                  count: int) -> list[PointValues]:
    """Up to `count` images with data at (x, y), topmost (newest) first, as `value_at` picks them."""
    lonlat = wgs84_bounds(crs.crs, (x, y, x, y))
    if lonlat is None:  # a point with no place on Earth has no pixel either
        return []
    files = services().image_files(images)
    found: list[PointValues] = []
    start = 0
    while start < len(images) and len(found) < count:
        hit = value_at(images[start:], files[start:], crs.crs, x, y, nodata=nodata)
        if hit is None or all(value is None for value in hit[1]):
            break
        image, values = hit
        found.append(PointValues(name, lonlat[0], lonlat[1], image, values))
        start += next(k for k, candidate in enumerate(images[start:]) if candidate is image) + 1
    return found


# ------------------------------------------------------------------------------ GetLegendGraphic

def get_legend_graphic(params: Params, _: str) -> Response:
    """The legend of LAYER in STYLE (and any render parameters), as a PNG."""
    name = params.required("layer")
    parse_format(params, "format", ("image/png",), default="image/png")
    width, height = parse_optional_size(params, _max_size())
    layer = _layer(name, "LAYER")
    spec = _spec(layer, params, params.get("style"))

    def draw() -> bytes:
        return encode_map(draw_legend(legend_for(spec, layer.image.bands), width, height), "png")

    key = repr(("wms-legend", layer.image.checksum, sorted(request.args.items(multi=True))))
    return cached_response(key, draw, "image/png")
