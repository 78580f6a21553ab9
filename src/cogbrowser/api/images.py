"""`/api/v1/images/{image_id}/…`: the reads of one image that are not map tiles.

- `point`: every band's raw value at a lon/lat (or x/y in a CRS), with the pixel's row and column;
- `statistics` (GET, or POST a GeoJSON zone): count, min, max, mean, std, median, p2/p98 and a
  histogram per band or expression over a bbox, a polygon or the whole image;
- `export`: an area as a GeoTIFF of raw values (`format=tif`, the default) or as a picture;
- `preview.{png|jpg|webp}`: the whole image, small, in its own CRS (no reprojection, so the
  picture has the image's own aspect ratio and is read straight from one overview).

They take the render parameters of tiles (`bands`, `expression`, `style`, `nodata`, …). A thin
adapter: parsing and reading live in the raster core (raster/point, zonal, export, region); here
catalog rows are looked up and errors become problem details — 400 for bad input (the detail names
the parameter), 404 for an unknown image and for a point or area outside the image.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from affine import Affine
from flask import Blueprint, Response, current_app, jsonify, request
from rasterio.crs import CRS

from cogbrowser.api.problems import problem
from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.layers import Layer, read_image_area
from cogbrowser.ogc.rendering import cached_response, rendered_response
from cogbrowser.raster.export import Grid, export_geotiff, fit_size, parse_export_grid
from cogbrowser.raster.outputs import band_label, output_names, parse_outputs
from cogbrowser.raster.point import parse_point, read_pixel
from cogbrowser.raster.region import ImageExtent, OutsideImage
from cogbrowser.raster.render import FORMATS
from cogbrowser.raster.render_spec import RENDER_PARAMETERS
from cogbrowser.raster.zonal import parse_bins, parse_zone, zonal_statistics

blueprint = Blueprint("images", __name__)

IMAGE = "/api/v1/images/<image_id>"
POINT_PARAMETERS = ("lon", "lat", "x", "y", "crs", "expression", "nodata")
STATISTICS_PARAMETERS = ("bbox", "bbox-crs", "geometry", "bands", "expression", "style", "nodata", "bins", "range")
EXPORT_PARAMETERS = (*RENDER_PARAMETERS, "bbox", "bbox-crs", "crs", "format", "width", "height", "resolution")
PREVIEW_PARAMETERS = (*RENDER_PARAMETERS, "max_size")
PICTURE_ONLY = ("rescale", "gain", "gamma", "colormap")  # meaningless for raw values
DEFAULT_PREVIEW_SIZE = 512
MAX_PREVIEW_SIZE = 2048


def image_read(allowed: tuple[str, ...]) -> Callable:
    """Wrap a view of one image: check the parameters, look the image up, turn errors into problems."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(image_id: str, **kwargs: str) -> Response:
            unknown = sorted(set(request.args) - set(allowed))
            if unknown:
                return problem(400, "Bad Request", f"unknown parameter(s): {', '.join(unknown)} "
                                                   f"(parameters: {', '.join(allowed)})")
            try:
                return view(_image_layer(image_id), **kwargs)
            except OutsideImage as exc:
                return problem(404, "Not Found", f"{exc.what} is outside the extent of image {image_id!r}")
            except NotFound as exc:
                return problem(404, "Not Found", str(exc))
            except InvalidInput as exc:
                return problem(400, "Bad Request", str(exc))
            except FileNotFoundError:
                return problem(410, "Gone", f"the file of image {image_id!r} is missing on the server")
        return wrapper
    return decorate


@blueprint.get(f"{IMAGE}/point")
@image_read(POINT_PARAMETERS)
def point(layer: Layer) -> Response:
    image = layer.image
    crs, x, y, what = parse_point(*(request.args.get(k) for k in ("lon", "lat", "x", "y", "crs")), _extent(image))
    spec = parse_outputs(_params("expression", "nodata"), layer.band_names, layer.presets)
    pixel = read_pixel(_file(image), crs, x, y, _nodata(spec.nodata, image), spec.expressions)
    if pixel is None:
        raise OutsideImage(what)
    return jsonify({
        **_identity(image), "row": pixel.row, "col": pixel.col,
        "bands": [band_label(layer.band_names, i) for i in range(1, len(layer.band_names) + 1)],
        "values": pixel.values,
        "expressions": [{"expression": str(e), "value": v} for e, v in zip(spec.expressions, pixel.expressions)],
    })


@blueprint.route(f"{IMAGE}/statistics", methods=["GET", "POST"])
@image_read(STATISTICS_PARAMETERS)
def statistics(layer: Layer) -> Response:
    image = layer.image
    spec = parse_outputs(_params("bands", "expression", "style", "nodata"), layer.band_names, layer.presets)
    bins, value_range = parse_bins(request.args.get("bins"), request.args.get("range"))
    body = request.get_data(as_text=True) if request.method == "POST" else None
    shapes, what = parse_zone(request.args.get("bbox"), request.args.get("bbox-crs"), request.args.get("geometry"),
                              body, _extent(image))
    result = zonal_statistics(_file(image), spec, shapes, what=what, bins=bins, value_range=value_range)
    window = result.window
    return jsonify({
        **_identity(image), "overview_level": result.overview_level, "resolution": list(result.resolution),
        "window": {"col_off": window.col_off, "row_off": window.row_off, "width": window.width,
                   "height": window.height},
        "shape": list(result.shape), "pixels": result.pixels, "all_touched": result.all_touched,
        "statistics": [{"name": name, **summary}
                       for name, summary in zip(output_names(spec, layer.band_names), result.outputs)],
    })


@blueprint.get(f"{IMAGE}/export")
@image_read(EXPORT_PARAMETERS)
def export(layer: Layer) -> Response:
    image = layer.image
    fmt = _export_format(request.args.get("format"))
    grid = parse_export_grid(request.args, _extent(image), current_app.config["COGBROWSER_SETTINGS"].max_image_size)
    epsg = grid.crs.to_epsg()
    name = f"{image['id']}_{f'EPSG{epsg}' if epsg else 'native'}_{grid.width}x{grid.height}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "tif":
        return _geotiff_response(layer, grid, headers)
    spec = layer.spec(_params(*RENDER_PARAMETERS))
    return rendered_response([image], spec, grid.crs, grid.bounds, grid.width, grid.height, fmt, headers)


@blueprint.get(f"{IMAGE}/preview.<fmt>")
@image_read(PREVIEW_PARAMETERS)
def preview(layer: Layer, fmt: str) -> Response:
    image = layer.image
    if fmt.lower() not in FORMATS:
        raise NotFound(f"unknown preview format {fmt!r} (use png, jpg or webp)")
    max_size = request.args.get("max_size", str(DEFAULT_PREVIEW_SIZE)).strip()
    if not max_size.isdigit() or not 1 <= int(max_size) <= MAX_PREVIEW_SIZE:
        raise InvalidInput(f"max_size: {max_size!r} is not a whole number of pixels in 1..{MAX_PREVIEW_SIZE}")
    width, height = fit_size(image["width"], image["height"], int(max_size))
    spec = layer.spec(_params(*RENDER_PARAMETERS))
    return rendered_response([image], spec, _extent(image).crs, image["native_bounds"], width, height, fmt)


# ---------------------------------------------------------------- helpers

def _export_format(text: str | None) -> str:
    fmt = (text or "tif").strip().lower()
    fmt = "tif" if fmt in ("tiff", "geotiff") else fmt
    if fmt != "tif" and fmt not in FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not offered (use tif, png, jpg or webp)")
    return fmt


def _geotiff_response(layer: Layer, grid: Grid, headers: dict) -> Response:
    """The raw values of the asked bands or expressions on `grid`, as a GeoTIFF (ETag, 304, cache)."""
    given = [p for p in PICTURE_ONLY if p in request.args]
    if given:
        raise InvalidInput(f"{given[0]}: applies to pictures (format=png, jpg or webp), not to raw values (tif)")
    image = layer.image
    spec = parse_outputs(_params("bands", "expression", "style", "nodata", "resampling"), layer.band_names,
                         layer.presets)

    def body() -> bytes:
        try:
            area = read_image_area(image, _file(image), spec, grid.crs, grid.bounds, grid.width, grid.height)
        except ValueError as exc:  # the reader's argument checks, e.g. a nodata the dtype cannot hold
            raise InvalidInput(str(exc)) from None
        return export_geotiff(area, spec, grid, _nodata(spec.nodata, image), output_names(spec, layer.band_names))

    key = repr(("export", image["checksum"], request.path, sorted(request.args.items(multi=True))))
    return cached_response(key, body, "image/tiff", headers)


def _image_layer(image_id: str) -> Layer:
    """The image as a layer (its bands, and its collection's presets for `style`); NotFound if none."""
    try:
        layer = current_app.extensions["cogbrowser.layers"].find(image_id)
    except NotFound:
        layer = None
    if layer is None or layer.is_collection:
        raise NotFound(f"no image {image_id!r} in the catalog")
    return layer


def _params(*names: str) -> dict[str, list[str]]:
    return {name: request.args.getlist(name) for name in names if name in request.args}


def _extent(image: dict) -> ImageExtent:
    return ImageExtent(CRS.from_wkt(image["crs"]), image["epsg"], Affine(*image["transform"]),
                       tuple(image["native_bounds"]), tuple(image["bbox"]))


def _file(image: dict) -> Path:
    return current_app.config["COGBROWSER_SETTINGS"].image_file(image["path"])


def _nodata(override: float | None, image: dict) -> float | None:
    return override if override is not None else image.get("nodata")


def _identity(image: dict) -> dict:
    acquired = image.get("acquired_at")
    return {"image_id": image["id"], "acquired_at": acquired.isoformat() if acquired else None}
