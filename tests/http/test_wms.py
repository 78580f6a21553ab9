"""WMS 1.1.1 and 1.3.0 at /wms, as GIS clients use it: OWSLib, GDAL's WMS driver and plain HTTP.

One catalog for the module (ingesting real rasters takes seconds): a Landsat collection of two
overlapping UTM uint16 scenes (cog1 older, cog2 newer), an EPSG:4326 float image with NaN, a drone
orthophoto with an alpha band, an image across the antimeridian and an Antarctic polar one.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from lxml import etree
from owslib.util import ServiceException
from owslib.wms import WebMapService
from PIL import Image
from rasterio.io import MemoryFile
from rasterio.windows import Window

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.config import Settings
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA, new_database, serving

OGC = "{http://www.opengis.net/ogc}"
WMS = "{http://www.opengis.net/wms}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
CLASSES = '{"1": "#ff0000", "2": "#00ff00", "3": "#0000ff"}'
PRESETS = [
    {"name": "natural", "title": "Natural colour", "bands": [1, 2, 3], "rescale": [[0, 20000]]},
    {"name": "red-viridis", "title": "Red band, viridis", "bands": [1], "colormap": "viridis",
     "rescale": [[5000, 15000]]},
    {"name": "classes", "title": "Classes", "bands": [1], "colormap": CLASSES},
    {"name": "infrared", "title": "Needs band 5", "bands": [5, 4, 3]},
]
WINDOW = (50, 300, 256, 192)  # col, row, width, height of cog1's pixels: data and its nodata collar
IMAGES = [  # (image id, file, collection, acquired)
    ("cog1", "titiler/cog1.tif", "landsat", datetime(2020, 1, 1, tzinfo=timezone.utc)),
    ("cog2", "titiler/cog2.tif", "landsat", datetime(2020, 1, 20, tzinfo=timezone.utc)),
    ("nan", "titiler/cog_with_nan.tif", None, None),
    ("alpha", "rio-tiler/pix4d_alpha_nodata.tif", None, None),
    ("dateline", "rio-tiler/cog_dateline.tif", None, None),
    ("polar", "GeoTIFF-test-data/bremen_sea_ice_conc_2022_9_9.tif", None, None),
]


@dataclass
class Service:
    base: str
    db: Database
    settings: Settings

    @property
    def url(self) -> str:
        return f"{self.base}/wms"

    def image(self, image_id: str) -> ImageRecord:
        with self.db.connection() as conn:
            return queries.get_image(conn, image_id)

    def get(self, **params) -> requests.Response:
        response = requests.get(self.url, params=params)
        assert response.status_code == 200, response.text
        return response

    def picture(self, **params) -> np.ndarray:
        response = self.get(**params)
        assert response.headers["Content-Type"].startswith("image/"), response.text
        return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


@pytest.fixture(scope="module")
def wms(postgres, tmp_path_factory) -> Service:
    data_dir = tmp_path_factory.mktemp("wms") / "data dir"
    data_dir.mkdir()
    with new_database(postgres) as url:
        settings = Settings.from_env(data_dir=data_dir, database_url=url)
        db = Database.open(settings)
        try:
            with db.connection() as conn:
                queries.upsert_collection(conn, "landsat", "Landsat 8 & <friends>", description="Quebec scenes",
                                          presets=PRESETS)
            for image_id, path, collection, acquired in IMAGES:
                result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / path, image_id=image_id,
                                                                 collection=collection, acquired_at=acquired))
                assert result.status == "added", result.message
            with serving(settings, db) as base:
                yield Service(base, db, settings)
        finally:
            db.close()


def native_box(image: ImageRecord, col: int, row: int, width: int, height: int) -> tuple[float, float, float, float]:
    """The bounds of a window of an image's pixels, in its own CRS."""
    left, _, _, top = image.native_bounds
    rx, ry = image.resolution
    return left + col * rx, top - (row + height) * ry, left + (col + width) * rx, top - row * ry


def expected_render(path: Path, window: Window, low: float, high: float) -> np.ndarray:
    """What the renderer makes of an image's bands 1-3 with `rescale=low,high`: RGBA (H, W, 4)."""
    with rasterio.open(path) as src:
        data = src.read([1, 2, 3], window=window).astype(np.float32)
        valid = src.dataset_mask(window=window) > 0
    scaled = np.clip((data - np.float32(low)) / np.float32(high - low), 0, 1)
    rgba = np.zeros((4, *valid.shape), np.uint8)
    rgba[:3] = np.where(valid, (scaled * np.float32(255.0) + np.float32(0.5)).astype(np.uint8), 0)
    rgba[3] = np.where(valid, 255, 0)
    return np.moveaxis(rgba, 0, -1)


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def report(response: requests.Response, version: str) -> tuple[str, str, str | None]:
    """(code, message, locator) of a ServiceExceptionReport answer, checking its version's form."""
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    if version == "1.3.0":
        assert response.headers["Content-Type"] == "text/xml"
        assert root.tag == f"{OGC}ServiceExceptionReport" and root.get("version") == "1.3.0"
        item = root.find(f"{OGC}ServiceException")
    else:
        assert response.headers["Content-Type"] == "application/vnd.ogc.se_xml"
        assert root.tag == "ServiceExceptionReport" and root.get("version") == "1.1.1"
        item = root.find("ServiceException")
    return item.get("code"), item.text, item.get("locator")


# ------------------------------------------------------------------------------ GetCapabilities

def test_capabilities_130_describe_every_layer(wms):
    service = WebMapService(wms.url, version="1.3.0")
    assert service.identification.type == "WMS"
    assert set(service.contents) == {"landsat", "cog1", "cog2", "nan", "alpha", "dateline", "polar"}
    assert {op.name for op in service.operations} >= {"GetCapabilities", "GetMap", "GetFeatureInfo",
                                                      "GetLegendGraphic"}
    assert service.getOperationByName("GetMap").formatOptions == ["image/png", "image/jpeg", "image/webp",
                                                                   "image/tiff"]

    cog1, image = service["cog1"], wms.image("cog1")
    assert cog1.queryable == 1 and "3-band uint16" in cog1.abstract
    assert cog1.boundingBoxWGS84 == pytest.approx(image.bbox)
    boxes = {box[4]: box[:4] for box in cog1.crs_list}  # OWSLib swaps EPSG:4326 back to x,y
    assert boxes["CRS:84"] == pytest.approx(image.bbox) and boxes["EPSG:4326"] == pytest.approx(image.bbox)
    assert boxes["EPSG:32618"] == pytest.approx(image.native_bounds)
    assert boxes["EPSG:3857"][0] == pytest.approx(image.bbox[0] * 20037508.342789244 / 180)
    assert {"EPSG:4326", "CRS:84", "EPSG:3857", "EPSG:32618", "EPSG:32760"} <= set(cog1.crsOptions)
    # Styles: default plus the presets the bands can draw ("infrared" needs a fifth band).
    assert set(cog1.styles) == {"default", "natural", "red-viridis", "classes"}
    assert cog1.styles["natural"]["title"] == "Natural colour"
    assert cog1.styles["natural"]["legend"].startswith(wms.url + "?")
    assert service["nan"].styles.keys() == {"default"}

    landsat = service["landsat"]
    assert landsat.title == "Landsat 8 & <friends>" and landsat.abstract.startswith("Quebec scenes")
    assert landsat.timepositions == ["2020-01-01T00:00:00Z", "2020-01-20T00:00:00Z"]
    assert landsat.defaulttimeposition == "2020-01-20T00:00:00Z"
    assert service["cog1"].timepositions is None

    assert "EPSG:3031" in service["polar"].crsOptions and "EPSG:3031" not in cog1.crsOptions
    assert service["dateline"].boundingBoxWGS84[0] == -180 and service["dateline"].boundingBoxWGS84[2] == 180


def test_capabilities_130_write_epsg4326_boxes_as_lat_lon(wms):
    root = etree.fromstring(wms.get(SERVICE="WMS", REQUEST="GetCapabilities", VERSION="1.3.0").content)
    layer = next(layer for layer in root.iter(f"{WMS}Layer") if layer.findtext(f"{WMS}Name") == "nan")
    west, south, east, north = wms.image("nan").bbox
    box = next(b for b in layer.findall(f"{WMS}BoundingBox") if b.get("CRS") == "EPSG:4326")
    assert [float(box.get(k)) for k in ("minx", "miny", "maxx", "maxy")] == pytest.approx([south, west, north, east])
    box = next(b for b in layer.findall(f"{WMS}BoundingBox") if b.get("CRS") == "CRS:84")
    assert [float(box.get(k)) for k in ("minx", "miny", "maxx", "maxy")] == pytest.approx([west, south, east, north])


def test_capabilities_111(wms):
    response = wms.get(SERVICE="WMS", REQUEST="GetCapabilities", VERSION="1.1.1")
    assert response.headers["Content-Type"] == "application/vnd.ogc.wms_xml"
    service = WebMapService(wms.url, version="1.1.1")
    assert service.identification.type == "OGC:WMS"
    cog1 = service["cog1"]
    assert cog1.boundingBoxWGS84 == pytest.approx(wms.image("cog1").bbox)
    assert cog1.boundingBox[4] == "EPSG:4326" and cog1.boundingBox[:4] == pytest.approx(wms.image("cog1").bbox)
    assert "EPSG:32618" in cog1.crsOptions and cog1.queryable == 1
    assert set(cog1.styles) == {"default", "natural", "red-viridis", "classes"}
    assert service["landsat"].timepositions == ["2020-01-01T00:00:00Z", "2020-01-20T00:00:00Z"]
    assert service["landsat"].defaulttimeposition == "2020-01-20T00:00:00Z"


@pytest.mark.parametrize("asked, answered", [(None, "1.3.0"), ("1.3.0", "1.3.0"), ("1.1.1", "1.1.1"),
                                             ("1.2.0", "1.1.1"), ("1.0.0", "1.1.1"), ("2.0.0", "1.3.0")])
def test_version_negotiation(wms, asked, answered):
    params = {"service": "wms", "request": "getcapabilities"}  # KVP names are case-insensitive
    if asked:
        params["version"] = asked
    root = etree.fromstring(wms.get(**params).content)
    assert root.get("version") == answered
    assert root.tag == (f"{WMS}WMS_Capabilities" if answered == "1.3.0" else "WMT_MS_Capabilities")


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_capabilities_name_no_other_host(wms, version):
    def urls(text: str) -> set[str]:
        return set(re.findall(r"""https?://[^\s"'<>]+""", text))

    namespaces = {"http://www.opengis.net/wms", "http://www.w3.org/1999/xlink", "http://www.opengis.net/sld"}
    text = wms.get(SERVICE="WMS", REQUEST="GetCapabilities", VERSION=version).text
    links = urls(text) - namespaces
    assert links and all(link.startswith(wms.url) for link in links), links - {u for u in links
                                                                               if u.startswith(wms.url)}
    # Reached under another name, the service names itself that way.
    port = wms.base.rsplit(":", 1)[1]
    other = requests.get(wms.url, params={"REQUEST": "GetCapabilities", "VERSION": version},
                         headers={"Host": f"localhost:{port}"}).text
    assert all(link.startswith(f"http://localhost:{port}/wms") for link in urls(other) - namespaces)


# ------------------------------------------------------------------------------ GetMap

def test_getmap_on_the_native_grid_equals_the_file(wms):
    """A map in the image's own CRS on its pixel grid is the file's pixels, rendered."""
    image = wms.image("cog1")
    window = Window(*WINDOW)
    bbox = native_box(image, *WINDOW)
    expected = expected_render(REAL_DATA / "titiler/cog1.tif", window, 0, 20000)
    for version, crs_name in (("1.3.0", "CRS"), ("1.1.1", "SRS")):
        got = wms.picture(SERVICE="WMS", VERSION=version, REQUEST="GetMap", LAYERS="cog1", STYLES="",
                          **{crs_name: "EPSG:32618"}, BBOX=",".join(map(str, bbox)), WIDTH=256, HEIGHT=192,
                          FORMAT="image/png", TRANSPARENT="TRUE", rescale="0,20000")
        assert got.shape == (192, 256, 4)
        assert (expected[..., 3] == 0).any() and (expected[..., 3] == 255).any(), "the window has nodata too"
        assert np.array_equal(got[..., 3], expected[..., 3])
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
        assert (got == expected).mean() > 0.999


def test_getmap_with_owslib_and_styles(wms):
    service = WebMapService(wms.url, version="1.3.0")
    image = wms.image("cog1")
    bbox = native_box(image, *WINDOW)
    natural = service.getmap(layers=["cog1"], styles=["natural"], srs="EPSG:32618", bbox=bbox, size=(256, 192),
                             format="image/png", transparent=True)
    got = np.asarray(Image.open(io.BytesIO(natural.read())).convert("RGBA"))
    expected = expected_render(REAL_DATA / "titiler/cog1.tif", Window(*WINDOW), 0, 20000)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    viridis = service.getmap(layers=["cog1"], styles=["red-viridis"], srs="EPSG:32618", bbox=bbox, size=(256, 192),
                             format="image/png", transparent=True)
    colours = np.asarray(Image.open(io.BytesIO(viridis.read())).convert("RGBA"))
    opaque = colours[..., 3] == 255
    assert opaque.any() and not np.array_equal(colours[opaque][:, 0], colours[opaque][:, 1]), "not grey"


def test_epsg4326_in_130_is_lat_lon(wms):
    """EPSG:4326 in 1.3.0 takes BBOX as lat,lon: the same picture as CRS:84 (and 1.1.1) with lon,lat."""
    west, south, east, north = wms.image("nan").bbox
    common = dict(SERVICE="WMS", REQUEST="GetMap", LAYERS="nan", WIDTH=200, HEIGHT=160, FORMAT="image/png",
                  TRANSPARENT="TRUE", colormap="viridis", rescale="0,500")
    lonlat = f"{west},{south},{east},{north}"
    crs84 = wms.picture(VERSION="1.3.0", CRS="CRS:84", BBOX=lonlat, **common)
    epsg4326 = wms.picture(VERSION="1.3.0", CRS="EPSG:4326", BBOX=f"{south},{west},{north},{east}", **common)
    old = wms.picture(VERSION="1.1.1", SRS="EPSG:4326", BBOX=lonlat, **common)
    assert (crs84[..., 3] == 255).mean() > 0.3 and (crs84[..., 3] == 0).any(), "data and NaN holes"
    assert np.array_equal(crs84, epsg4326) and np.array_equal(crs84, old)
    swapped = wms.picture(VERSION="1.3.0", CRS="EPSG:4326", BBOX=lonlat, **common)
    assert swapped[..., 3].max() == 0, "lon,lat read as lat,lon is elsewhere"


def overlap_map(wms, **params) -> dict:
    """A 200 x 100 GetMap in EPSG:32618 over the west edge of cog2, inside cog1 (both scenes, and
    cog1 alone)."""
    x = wms.image("cog2").native_bounds[0]
    return dict(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", CRS="EPSG:32618",
                BBOX=f"{x - 30000},5080000,{x + 30000},5110000", WIDTH=200, HEIGHT=100, FORMAT="image/png",
                TRANSPARENT="TRUE", **params)


def test_layers_are_drawn_bottom_to_top(wms):
    common = overlap_map(wms, rescale="0,20000")
    one = wms.picture(LAYERS="cog1", **common)
    two = wms.picture(LAYERS="cog2", **common)
    both_two_on_top = wms.picture(LAYERS="cog1,cog2", **common)
    both_one_on_top = wms.picture(LAYERS="cog2,cog1", **common)
    has_one, has_two = one[..., 3] == 255, two[..., 3] == 255
    assert (has_one & has_two).mean() > 0.2 and (has_one & ~has_two).mean() > 0.2
    assert not np.array_equal(one[has_one & has_two], two[has_one & has_two])
    assert np.array_equal(both_two_on_top[has_two], two[has_two])
    assert np.array_equal(both_two_on_top[has_one & ~has_two], one[has_one & ~has_two])
    assert np.array_equal(both_one_on_top[has_one], one[has_one])


def test_transparent_and_bgcolor(wms):
    common = overlap_map(wms, LAYERS="cog2", rescale="0,20000")
    transparent = wms.picture(**common)
    outside = transparent[..., 3] == 0
    assert outside.mean() > 0.2
    del common["TRANSPARENT"]
    white = wms.picture(**common)  # TRANSPARENT defaults to FALSE, BGCOLOR to white
    assert (white[..., 3] == 255).all() and (white[outside][:, :3] == 255).all()
    green = wms.picture(TRANSPARENT="FALSE", BGCOLOR="0x00FF00", **common)
    assert (green[outside] == [0, 255, 0, 255]).all()
    assert np.array_equal(green[~outside], transparent[~outside])
    jpeg = wms.get(**{**common, "FORMAT": "image/jpeg"}, TRANSPARENT="TRUE", BGCOLOR="0x0000FF")
    pixels = np.asarray(Image.open(io.BytesIO(jpeg.content)).convert("RGB")).astype(int)
    assert np.abs(pixels[outside] - [0, 0, 255]).mean() < 10, "JPEG has no alpha: nodata takes BGCOLOR"


@pytest.mark.parametrize("mime, kind", [("image/png", "PNG"), ("image/jpeg", "JPEG"), ("image/webp", "WEBP")])
def test_picture_formats(wms, mime, kind):
    response = wms.get(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="alpha", CRS="EPSG:32750",
                       BBOX=",".join(map(str, wms.image("alpha").native_bounds)), WIDTH=300, HEIGHT=320,
                       FORMAT=mime)
    assert response.headers["Content-Type"] == mime
    assert Image.open(io.BytesIO(response.content)).format == kind


def test_geotiff_is_georeferenced_in_the_requested_crs(wms):
    west, south, east, north = wms.image("nan").bbox
    common = dict(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="nan", CRS="EPSG:3857", WIDTH=256,
                  HEIGHT=200, TRANSPARENT="TRUE", colormap="magma", rescale="0,500")
    x0, y0, x1, y1 = 8870000.0, 2460000.0, 9000000.0, 2580000.0
    response = wms.get(BBOX=f"{x0},{y0},{x1},{y1}", FORMAT="image/tiff", **common)
    assert response.headers["Content-Type"] == "image/tiff"
    png = wms.picture(BBOX=f"{x0},{y0},{x1},{y1}", FORMAT="image/png", **common)
    with MemoryFile(response.content) as memory, memory.open() as tif:
        assert tif.crs.to_epsg() == 3857 and tif.count == 4 and (tif.width, tif.height) == (256, 200)
        assert tuple(tif.bounds) == pytest.approx((x0, y0, x1, y1))
        assert np.array_equal(np.moveaxis(tif.read(), 0, -1), png)


def test_alpha_band_becomes_transparency(wms):
    image = wms.image("alpha")
    bbox = ",".join(map(str, native_box(image, 0, 0, image.width, image.height)))
    got = wms.picture(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="alpha", CRS="EPSG:32750", BBOX=bbox,
                      WIDTH=image.width, HEIGHT=image.height, FORMAT="image/png", TRANSPARENT="TRUE")
    with rasterio.open(REAL_DATA / "rio-tiler/pix4d_alpha_nodata.tif") as src:
        alpha = src.read(4)
    assert (alpha == 0).any() and (alpha == 255).any()
    assert np.array_equal(got[..., 3] == 255, alpha > 0)


def test_time_picks_acquisitions(wms):
    common = overlap_map(wms, style="natural")
    one = wms.picture(LAYERS="cog1", **common)
    two = wms.picture(LAYERS="cog2", **common)
    mosaic = wms.picture(LAYERS="cog1,cog2", **common)
    assert np.array_equal(wms.picture(LAYERS="landsat", **common), two), "default: the newest acquisition"
    assert np.array_equal(wms.picture(LAYERS="landsat", TIME="2020-01-20T00:00:00Z", **common), two)
    assert np.array_equal(wms.picture(LAYERS="landsat", TIME="current", **common), two)
    assert np.array_equal(wms.picture(LAYERS="landsat", TIME="2020-01-01", **common), one)
    assert np.array_equal(wms.picture(LAYERS="landsat", TIME="2020-01-01/2020-01-31", **common), mosaic)
    assert np.array_equal(wms.picture(LAYERS="landsat", TIME="../..", **common), mosaic)
    assert wms.picture(LAYERS="landsat", TIME="2021-05-05", **common)[..., 3].max() == 0
    assert np.array_equal(wms.picture(LAYERS="cog1", TIME="2021-05-05", **common), one), "images have no TIME"


def test_vendor_parameters_are_case_insensitive(wms):
    common = overlap_map(wms, LAYERS="cog1")
    lower = wms.picture(bands="2", colormap="terrain", rescale="5000,15000", **common)
    upper = wms.picture(BANDS="2", Colormap="terrain", RESCALE="5000,15000", **common)
    assert np.array_equal(lower, upper)
    assert not np.array_equal(lower, wms.picture(**common))


def test_caching_headers_and_304(wms):
    params = overlap_map(wms, LAYERS="cog1,cog2")
    first = wms.get(**params)
    assert first.headers["ETag"] and "max-age" in first.headers["Cache-Control"]
    again = requests.get(wms.url, params=params, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    other = wms.get(**{**params, "LAYERS": "cog2,cog1"})
    assert other.headers["ETag"] != first.headers["ETag"]


def test_capabilities_are_revalidated_not_cached(wms):
    """As WMTS's: no-cache with an ETag, so a client's refresh is a 304 until the catalog changes."""
    params = {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"}
    first = wms.get(**params)
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = requests.get(wms.url, params=params, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.content
    other = wms.get(**{**params, "VERSION": "1.1.1"})
    assert other.headers["ETag"] != first.headers["ETag"], "each version is its own document"


def test_polar_and_antimeridian_images(wms):
    polar = wms.image("polar")
    common = dict(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", WIDTH=128, HEIGHT=128, FORMAT="image/png",
                  TRANSPARENT="TRUE", rescale="0,100", colormap="blues")
    own = wms.picture(LAYERS="polar", CRS="EPSG:3031", BBOX=",".join(map(str, polar.native_bounds)), **common)
    assert (own[..., 3] == 255).mean() > 0.2
    lat_lon = wms.picture(LAYERS="polar", CRS="EPSG:4326", BBOX="-90,-180,-50,180", **common)
    assert (lat_lon[..., 3] == 255).mean() > 0.2
    # Across the antimeridian, in lon/lat beyond 180 and in the image's own UTM zone 60.
    west, south, east, north = wms.image("dateline").bbox
    assert west < 180 < east
    across = wms.picture(LAYERS="dateline", CRS="CRS:84", BBOX=f"{west},{south},{east},{north}", **common)
    half = across.shape[1] * (180 - west) / (east - west)
    assert (across[:, : int(half) - 2, 3] == 255).any() and (across[:, int(half) + 2:, 3] == 255).any()
    native = wms.picture(LAYERS="dateline", CRS="EPSG:32660",
                         BBOX=",".join(map(str, wms.image("dateline").native_bounds)), **common)
    assert (native[..., 3] == 255).mean() > 0.5


# ------------------------------------------------------------------------------ GDAL's WMS driver

def test_gdal_wms_driver_reads_a_window(wms):
    """GDAL opens the service like any raster, asks tiles by GetMap and gets the file's pixels."""
    image = wms.image("cog1")
    left, bottom, right, top = image.native_bounds
    resolution = image.resolution[0]
    url = (f"WMS:{wms.url}?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=cog1&SRS=EPSG:32618"
           f"&BBOX={left},{bottom},{right},{top}&FORMAT=image/png&TRANSPARENT=TRUE&rescale=0,20000"
           f"&MINRESOLUTION={resolution}&OVERVIEWCOUNT=2&TILESIZE=256")
    with rasterio.open(url) as dataset:
        assert dataset.driver == "WMS" and dataset.crs.to_epsg() == 32618 and dataset.count == 4
        assert (dataset.width, dataset.height) == (image.width, image.height)
        window = Window(240, 250, 300, 200)  # spans four of GDAL's 256-pixel blocks
        got = np.moveaxis(dataset.read(window=window), 0, -1)
    expected = expected_render(REAL_DATA / "titiler/cog1.tif", window, 0, 20000)
    assert np.array_equal(got[..., 3], expected[..., 3])
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_gdal_wms_driver_130_swaps_epsg4326(wms):
    """GDAL sends 1.3.0 EPSG:4326 boxes as lat,lon: the service must read them so."""
    west, south, east, north = wms.image("nan").bbox
    url = (f"WMS:{wms.url}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nan&CRS=EPSG:4326"
           f"&BBOX={south},{west},{north},{east}&FORMAT=image/png&TRANSPARENT=TRUE&colormap=viridis&rescale=0,500"
           f"&TILESIZE=256&OVERVIEWCOUNT=0&MINRESOLUTION={(east - west) / 256}")
    with rasterio.open(url) as dataset:
        assert tuple(dataset.bounds) == pytest.approx((west, south, east, north), abs=1e-6)
        gdal_alpha = dataset.read(4)
    crs84 = wms.picture(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="nan", CRS="CRS:84",
                        BBOX=f"{west},{south},{east},{north}", WIDTH=gdal_alpha.shape[1], HEIGHT=gdal_alpha.shape[0],
                        FORMAT="image/png", TRANSPARENT="TRUE", colormap="viridis", rescale="0,500")
    assert (gdal_alpha == 255).mean() > 0.3
    assert ((gdal_alpha == 255) == (crs84[..., 3] == 255)).mean() > 0.99


# ------------------------------------------------------------------------------ GetFeatureInfo

def test_getfeatureinfo_values_are_the_files(wms):
    image = wms.image("cog1")
    bbox = native_box(image, *WINDOW)
    with rasterio.open(REAL_DATA / "titiler/cog1.tif") as src:
        expected = src.read(window=Window(WINDOW[0] + 100, WINDOW[1] + 50, 1, 1))[:, 0, 0].tolist()
    assert all(expected), "a pixel with data"
    service = WebMapService(wms.url, version="1.3.0")
    answer = service.getfeatureinfo(layers=["cog1"], srs="EPSG:32618", bbox=bbox, size=(256, 192),
                                    format="image/png", query_layers=["cog1"], info_format="application/json",
                                    xy=(100, 50))
    collection = json.loads(answer.read())
    (feature,) = collection["features"]
    properties = feature["properties"]
    assert properties["image_id"] == "cog1" and properties["collection_id"] == "landsat"
    assert properties["acquired_at"] == "2020-01-01T00:00:00Z"
    assert [properties[name] for name in ("b1", "b2", "b3")] == expected
    lon, lat = feature["geometry"]["coordinates"]
    assert image.bbox[0] < lon < image.bbox[2] and image.bbox[1] < lat < image.bbox[3]

    old = WebMapService(wms.url, version="1.1.1")  # X/Y
    text = old.getfeatureinfo(layers=["cog1"], srs="EPSG:32618", bbox=bbox, size=(256, 192), format="image/png",
                              query_layers=["cog1"], info_format="text/plain", xy=(100, 50)).read().decode()
    assert all(f"b{n}: {value}" in text for n, value in enumerate(expected, start=1)), text
    html = wms.get(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetFeatureInfo", LAYERS="cog1", QUERY_LAYERS="cog1",
                   CRS="EPSG:32618", BBOX=",".join(map(str, bbox)), WIDTH=256, HEIGHT=192, I=100, J=50,
                   INFO_FORMAT="text/html")
    assert html.headers["Content-Type"].startswith("text/html") and f"<td>{expected[0]}</td>" in html.text


def test_getfeatureinfo_float_values_and_no_data(wms):
    west, south, east, north = wms.image("nan").bbox
    common = dict(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetFeatureInfo", LAYERS="nan", QUERY_LAYERS="nan",
                  CRS="CRS:84", WIDTH=101, HEIGHT=101, INFO_FORMAT="application/json")
    with rasterio.open(REAL_DATA / "titiler/cog_with_nan.tif") as src:
        band = src.read(1)
        rows, cols = np.nonzero(np.isfinite(band))
        row, col = rows[len(rows) // 2], cols[len(cols) // 2]
        x, y = src.xy(row, col)
        nan_row, nan_col = np.argwhere(np.isnan(band))[0]
        nx, ny = src.xy(nan_row, nan_col)
    half = src.res[0] * 50.5  # pixel 50 of a 101-pixel map centred on the point is the point
    around = lambda cx, cy: f"{cx - half},{cy - half},{cx + half},{cy + half}"  # noqa: E731
    hit = wms.get(BBOX=around(x, y), I=50, J=50, **common).json()
    assert hit["features"][0]["properties"]["b1"] == pytest.approx(float(band[row, col]))
    assert wms.get(BBOX=around(nx, ny), I=50, J=50, **common).json()["features"] == [], "NaN is no data"
    assert wms.get(BBOX="0,0,1,1", I=5, J=5, **common).json()["features"] == [], "outside every image"
    text = wms.get(BBOX="0,0,1,1", I=5, J=5, **{**common, "INFO_FORMAT": "text/plain"}).text
    assert "no data" in text


def test_getfeatureinfo_feature_count_lists_the_mosaic(wms):
    one, two = wms.image("cog1").native_bounds, wms.image("cog2").native_bounds
    x, y = (two[0] + one[2]) / 2, 5100000
    common = dict(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetFeatureInfo", LAYERS="landsat", QUERY_LAYERS="landsat",
                  CRS="EPSG:32618", BBOX=f"{x - 500},{y - 500},{x + 500},{y + 500}", WIDTH=11, HEIGHT=11, I=5,
                  J=5, INFO_FORMAT="application/json", TIME="../..")
    top = wms.get(**common).json()["features"]
    assert [f["properties"]["image_id"] for f in top] == ["cog2"]
    both = wms.get(FEATURE_COUNT=5, **common).json()["features"]
    assert [f["properties"]["image_id"] for f in both] == ["cog2", "cog1"]


# ------------------------------------------------------------------------------ GetLegendGraphic

def legend(wms, **params) -> np.ndarray:
    response = wms.get(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetLegendGraphic", FORMAT="image/png", **params)
    assert response.headers["Content-Type"] == "image/png" and response.headers["ETag"]
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)


def colour_share(pixels: np.ndarray, colour: tuple[int, int, int]) -> float:
    return float((np.abs(pixels - colour).sum(axis=-1) < 30).mean())


def test_legends(wms):
    bar = legend(wms, LAYER="cog1", STYLE="red-viridis")
    assert colour_share(bar, (68, 1, 84)) > 0.001 and colour_share(bar, (253, 231, 37)) > 0.001, "viridis ends"
    grey = legend(wms, LAYER="nan")
    assert colour_share(grey, (0, 0, 0)) > 0.001 and grey.shape[0] == 200
    classes = legend(wms, LAYER="landsat", STYLE="classes")
    assert all(colour_share(classes, c) > 0.005 for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255)))
    rgb = legend(wms, LAYER="cog1", STYLE="natural")
    assert colour_share(rgb, (255, 0, 0)) > 0.005 and colour_share(rgb, (0, 0, 255)) > 0.005
    assert legend(wms, LAYER="cog1", STYLE="natural", WIDTH=300, HEIGHT=90).shape == (90, 300, 3)
    assert legend(wms, LAYER="nan", colormap="magma", rescale="0,10").shape[0] == 200


def test_legend_urls_of_the_capabilities_work(wms):
    service = WebMapService(wms.url, version="1.3.0")
    for name in ("landsat", "nan"):
        for style in service[name].styles.values():
            response = requests.get(style["legend"])
            size = Image.open(io.BytesIO(response.content)).size
            assert response.headers["Content-Type"] == "image/png"
            assert size == (int(style["legend_width"]), int(style["legend_height"]))


# ------------------------------------------------------------------------------ exceptions

def map_params(wms, **changes) -> dict:
    image = wms.image("cog1")
    params = dict(SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="cog1", STYLES="", CRS="EPSG:32618",
                  BBOX=",".join(map(str, native_box(image, 0, 0, 100, 100))), WIDTH="64", HEIGHT="64",
                  FORMAT="image/png")
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def info_params(wms, **changes) -> dict:
    return map_params(wms, **{"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": "cog1", "I": "10", "J": "10",
                              "INFO_FORMAT": "text/plain", **changes})


EXCEPTION_CASES = [
    # (id, params builder, changes, code, words in the message)
    ("layer", map_params, {"LAYERS": "nope"}, "LayerNotDefined", "no image or collection 'nope'"),
    ("empty-layer", map_params, {"LAYERS": "cog1,"}, "LayerNotDefined", "empty layer name"),
    ("style", map_params, {"STYLES": "sepia"}, "StyleNotDefined", "unknown style 'sepia'"),
    ("style-not-drawable", map_params, {"STYLES": "infrared"}, "StyleNotDefined", "infrared"),
    ("style-count", map_params, {"STYLES": "natural,natural"}, "StyleNotDefined", "2 style(s) for 1 layer(s)"),
    ("crs", map_params, {"CRS": "EPSG:2056"}, "InvalidCRS", "'EPSG:2056' is not offered"),
    ("crs-junk", map_params, {"CRS": "FOO:1"}, "InvalidCRS", "'FOO:1'"),
    ("format", map_params, {"FORMAT": "image/gif"}, "InvalidFormat", "'image/gif' is not offered"),
    ("info-format", info_params, {"INFO_FORMAT": "application/vnd.ogc.gml"}, "InvalidFormat", "INFO_FORMAT"),
    ("time", map_params, {"LAYERS": "landsat", "TIME": "last week"}, "InvalidDimensionValue",
     "TIME: 'last week' is not a date"),
    ("time-order", map_params, {"LAYERS": "landsat", "TIME": "2020-02-01/2020-01-01"}, "InvalidDimensionValue",
     "ends before it starts"),
    ("time-empty", map_params, {"LAYERS": "landsat", "TIME": ""}, "MissingDimensionValue", "without a value"),
    ("point", info_params, {"I": "64"}, "InvalidPoint", "outside the map (0..63)"),
    ("point-junk", info_params, {"J": "ten"}, "InvalidPoint", "not a pixel number"),
    ("not-queryable", info_params, {"QUERY_LAYERS": "cog2"}, "LayerNotQueryable", "not in LAYERS"),
    ("query-unknown", info_params, {"QUERY_LAYERS": "nope"}, "LayerNotDefined", "'nope'"),
    ("operation", map_params, {"REQUEST": "GetStyles"}, "OperationNotSupported", "'GetStyles'"),
    ("no-request", map_params, {"REQUEST": None}, "MissingParameterValue", "REQUEST"),
    ("no-bbox", map_params, {"BBOX": None}, "MissingParameterValue", "BBOX"),
    ("no-crs", map_params, {"CRS": None}, "MissingParameterValue", "RS parameter is missing"),
    ("no-layers", map_params, {"LAYERS": None}, "MissingParameterValue", "LAYERS"),
    ("no-width", map_params, {"WIDTH": None}, "MissingParameterValue", "WIDTH"),
    ("no-point", info_params, {"I": None}, "MissingParameterValue", "parameter is missing"),
    ("bands", map_params, {"bands": "9"}, "InvalidParameterValue", "bands: band 9 does not exist"),
    ("rescale", map_params, {"RESCALE": "nan,1"}, "InvalidParameterValue", "rescale"),
    ("expression", map_params, {"expression": "b1+"}, "InvalidParameterValue", "unexpected end of expression"),
    ("colormap", map_params, {"colormap": "rainbow"}, "InvalidParameterValue", "unknown colormap 'rainbow'"),
    ("nodata", map_params, {"nodata": "-5"}, "InvalidParameterValue", "nodata -5"),
    ("bbox-inverted", map_params, {"BBOX": "500000,5100000,400000,5200000"}, "InvalidParameterValue", "inverted"),
    ("bbox-nan", map_params, {"BBOX": "nan,0,1,1"}, "InvalidParameterValue", "not finite"),
    ("bbox-inf", map_params, {"BBOX": "0,0,inf,1"}, "InvalidParameterValue", "not finite"),
    ("bbox-overflow", map_params, {"BBOX": "0,0,1e400,1"}, "InvalidParameterValue", "not finite"),
    ("bbox-huge", map_params, {"BBOX": "-1e300,-1e300,1e300,1e300"}, "InvalidParameterValue", "beyond"),
    ("bbox-count", map_params, {"BBOX": "0,0,1"}, "InvalidParameterValue", "must have 4 numbers, not 3"),
    ("bbox-words", map_params, {"BBOX": "a,b,c,d"}, "InvalidParameterValue", "is not 4 numbers"),
    ("bbox-empty", map_params, {"BBOX": "1,1,1,1"}, "InvalidParameterValue", "empty or inverted"),
    ("width-zero", map_params, {"WIDTH": "0"}, "InvalidParameterValue", "not a positive whole number"),
    ("width-float", map_params, {"WIDTH": "64.5"}, "InvalidParameterValue", "not a positive whole number"),
    ("too-wide", map_params, {"WIDTH": "4097"}, "InvalidParameterValue", "WIDTH 4097 is above this server's limit"),
    ("too-high", map_params, {"HEIGHT": "100000000"}, "InvalidParameterValue", "limit of 4096 pixels"),
    ("transparent", map_params, {"TRANSPARENT": "maybe"}, "InvalidParameterValue", "TRUE or FALSE"),
    ("bgcolor", map_params, {"BGCOLOR": "red"}, "InvalidParameterValue", "not a colour"),
    ("service", map_params, {"SERVICE": "WFS"}, "InvalidParameterValue", "'WFS' is not offered"),
    ("feature-count", info_params, {"FEATURE_COUNT": "-1"}, "InvalidParameterValue", "FEATURE_COUNT"),
    ("legend-layer", map_params, {"REQUEST": "GetLegendGraphic", "LAYER": "nope"}, "LayerNotDefined", "'nope'"),
    ("legend-format", map_params, {"REQUEST": "GetLegendGraphic", "LAYER": "cog1", "FORMAT": "image/jpeg"},
     "InvalidFormat", "FORMAT"),
    ("legend-style", map_params, {"REQUEST": "GetLegendGraphic", "LAYER": "cog1", "STYLE": "sepia"},
     "StyleNotDefined", "sepia"),
]


@pytest.mark.parametrize("version", ["1.3.0", "1.1.1"])
@pytest.mark.parametrize("build, changes, code, words", [case[1:] for case in EXCEPTION_CASES],
                         ids=[case[0] for case in EXCEPTION_CASES])
def test_exception_reports(wms, version, build, changes, code, words):
    params = build(wms, **changes)
    params["VERSION"] = version
    if version == "1.1.1" and "CRS" in params:
        params["SRS"] = params.pop("CRS")
    if version == "1.1.1" and "I" in params:
        params["X"], params["Y"] = params.pop("I"), params.pop("J")
    found, message, _ = report(requests.get(wms.url, params=params), version)
    expected = "InvalidSRS" if (code, version) == ("InvalidCRS", "1.1.1") else code
    assert (found, words in message) == (expected, True), message


def test_owslib_raises_our_reports(wms):
    for version in ("1.1.1", "1.3.0"):
        service = WebMapService(wms.url, version=version)
        with pytest.raises(ServiceException, match="no image or collection 'nope'"):
            service.getmap(layers=["nope"], srs="EPSG:4326", bbox=(0, 0, 1, 1), size=(10, 10), format="image/png")


def test_exceptions_in_image_and_blank(wms):
    params = map_params(wms, LAYERS="nope", WIDTH="300", HEIGHT="40")
    inimage = wms.picture(**params, EXCEPTIONS="INIMAGE")
    assert inimage.shape == (40, 300, 4) and (inimage[..., 3] == 255).all()
    assert (inimage[..., :3] < 100).any(), "the message is written"
    blank = wms.picture(**params, EXCEPTIONS="application/vnd.ogc.se_blank", TRANSPARENT="TRUE")
    assert blank[..., 3].max() == 0
    # A picture of an impossible size cannot be drawn: the report is sent instead.
    code, _, _ = report(requests.get(wms.url, params={**params, "WIDTH": "0", "EXCEPTIONS": "INIMAGE"}), "1.3.0")
    assert code == "InvalidParameterValue"


def test_request_without_version_and_lowercase_keys(wms):
    """GDAL writes lowercase keys; a GetMap without VERSION is read by its CRS/SRS grammar."""
    image = wms.image("cog1")
    bbox = ",".join(map(str, native_box(image, 200, 300, 64, 64)))
    new = wms.picture(request="GetMap", layers="cog1", crs="EPSG:32618", bbox=bbox, width=64, height=64,
                      format="image/png", transparent="true")
    old = wms.picture(request="GetMap", layers="cog1", srs="EPSG:32618", bbox=bbox, width=64, height=64,
                      format="image/png", transparent="true")
    assert np.array_equal(new, old) and (new[..., 3] == 255).any()
    response = requests.get(wms.url, params={"request": "GetMap", "srs": "EPSG:999", "bbox": bbox, "layers": "cog1",
                                             "width": 64, "height": 64, "format": "image/png"})
    assert report(response, "1.1.1")[0] == "InvalidSRS"


def test_capabilities_of_an_empty_catalog(live_server):
    service = WebMapService(f"{live_server}/wms", version="1.3.0")
    assert list(service.contents) == []
    assert WebMapService(f"{live_server}/wms", version="1.1.1").identification.type == "OGC:WMS"
