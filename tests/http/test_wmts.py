"""WMTS 1.0.0 over HTTP, as QGIS, OWSLib and GDAL use it: capabilities, tiles, feature info, errors.

Real rasters, a real server, real clients: OWSLib's WebMapTileService parses the capabilities and
fetches KVP tiles, GDAL's WMTS driver (what QGIS uses) opens layers through the RESTful templates,
and every tile is compared pixel for pixel with the XYZ tile of the same position.
"""

from __future__ import annotations

import io
import math
import re
from datetime import datetime, timezone

import morecantile
import numpy as np
import pytest
import rasterio
import requests
from lxml import etree
from owslib.wmts import WebMapTileService
from PIL import Image
from pyproj import Transformer
from rasterio.windows import Window

from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA, serving, shared_catalog

OWS = "{http://www.opengis.net/ows/1.1}"
TMS = {tms_id: morecantile.tms.get(tms_id) for tms_id in ("WebMercatorQuad", "WorldCRS84Quad")}
JANUARY_1, JANUARY_20 = "2020-01-01T00:00:00Z", "2020-01-20T00:00:00Z"


def ingest(db, settings, path, image_id, **fields):
    result = ingest_file(db, settings, IngestRequest(path=REAL_DATA / path, image_id=image_id, **fields))
    assert result.status == "added", result.message


@pytest.fixture(scope="module")
def served(postgres, tmp_path_factory):
    """One catalog for the module's tests (they only read it), served by waitress:

    - `landsat`, a dated collection with presets of two overlapping Landsat scenes `cog1` (older)
      and `cog2` (UTM 18N, 3-band uint16);
    - `india`, an EPSG:4326 float32 image with NaN; `dateline`, an image across the antimeridian.
    """
    with shared_catalog(postgres, tmp_path_factory.mktemp("wmts")) as (settings, db):
        with db.connection() as conn:
            queries.upsert_collection(conn, "landsat", "Landsat <8> & co", presets=[
                {"name": "natural", "title": "Natural colour", "bands": [1, 2, 3], "rescale": [[0, 20000]]},
                {"name": "red-viridis", "bands": [1], "colormap": "viridis"}])
        ingest(db, settings, "titiler/cog1.tif", "cog1", collection="landsat",
               acquired_at=datetime(2020, 1, 1, tzinfo=timezone.utc))
        ingest(db, settings, "titiler/cog2.tif", "cog2", collection="landsat",
               acquired_at=datetime(2020, 1, 20, tzinfo=timezone.utc))
        ingest(db, settings, "titiler/cog_with_nan.tif", "india")
        ingest(db, settings, "rio-tiler/cog_dateline.tif", "dateline")
        with serving(settings, db) as url:
            yield url, settings, db


@pytest.fixture
def catalog(served) -> str:
    """The base URL of the served catalog."""
    return served[0]


@pytest.fixture
def settings(served):
    return served[1]


@pytest.fixture
def db(served):
    return served[2]


def image_row(db, image_id):
    with db.connection() as conn:
        return queries.get_image(conn, image_id)


def rgba(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def get_ok(url, **params) -> requests.Response:
    response = requests.get(url, params=params)
    assert response.status_code == 200, response.text
    return response


def xyz_tile(base, layer, tms_id, tile, **params) -> np.ndarray:
    return rgba(get_ok(f"{base}/tiles/{layer}/{tms_id}/{tile.z}/{tile.x}/{tile.y}.png", **params).content)


def native_zoom(service: WebMapTileService, layer: str, tms_id: str) -> int:
    """The finest tile matrix the capabilities list for the layer (its native resolution)."""
    return max(int(z) for z in service[layer].tilematrixsetlinks[tms_id].tilematrixlimits)


def rest_tile_url(service: WebMapTileService, layer: str, tms_id: str, zoom: int, tile, style="default",
                  **dimensions) -> str:
    """The layer's PNG tile URL from its ResourceURL template, filled in as a client does.

    (OWSLib's buildTileResource picks a random tile template whatever the format, so not that.)
    """
    (template,) = [r["template"] for r in service[layer].resourceURLs
                   if r["resourceType"] == "tile" and r["format"] == "image/png"]
    return template.format(Style=style, TileMatrixSet=tms_id, TileMatrix=zoom, TileRow=tile.y, TileCol=tile.x,
                           **dimensions)


def centre_tile(tms_id, bbox, zoom) -> morecantile.Tile:
    west, south, east, north = bbox
    return TMS[tms_id].tile((west + east) / 2, (south + north) / 2, zoom)


def overlap_tile(db, tms_id, zoom) -> morecantile.Tile:
    """A tile across the east edge of cog1, where cog2 (newer) covers cog1's right part."""
    one, two = image_row(db, "cog1").bbox, image_row(db, "cog2").bbox
    return TMS[tms_id].tile((max(one[0], two[0]) + min(one[2], two[2])) / 2, (one[1] + one[3]) / 2, zoom)


# -- capabilities -----------------------------------------------------------------------------
def test_capabilities_through_owslib(catalog, db):
    service = WebMapTileService(f"{catalog}/wmts")
    assert service.identification.type == "OGC WMTS" and service.identification.version == "1.0.0"
    assert list(service.contents)[0] == "landsat", "collections first"
    assert sorted(service.contents) == ["cog1", "cog2", "dateline", "india", "landsat"]
    assert {op.name for op in service.operations} == {"GetCapabilities", "GetTile", "GetFeatureInfo"}
    assert not service.restonly, "KVP and RESTful are both declared"

    landsat = service["landsat"]
    assert landsat.title == "Landsat <8> & co", "titles are escaped, not mangled"
    assert list(landsat.styles) == ["default", "natural", "red-viridis"]
    assert landsat.styles["default"]["isDefault"] and not landsat.styles["natural"]["isDefault"]
    assert landsat.styles["natural"]["title"] == "Natural colour"
    assert landsat.formats == ["image/png", "image/jpeg", "image/webp"]
    assert landsat.infoformats == ["application/json", "text/plain", "text/html"]
    assert landsat.dimensions["Time"]["values"] == [JANUARY_1, JANUARY_20]
    assert landsat.dimensions["Time"]["default"] == JANUARY_20
    one, two = image_row(db, "cog1").bbox, image_row(db, "cog2").bbox
    assert landsat.boundingBoxWGS84 == pytest.approx((min(one[0], two[0]), min(one[1], two[1]),
                                                      max(one[2], two[2]), max(one[3], two[3])))

    cog1 = service["cog1"]
    assert list(cog1.styles) == ["default", "natural", "red-viridis"], "an image offers its collection's presets"
    assert cog1.dimensions == {}, "an image has no Time"
    assert cog1.boundingBoxWGS84 == pytest.approx(one)
    assert list(service["india"].styles) == ["default"]
    assert service["dateline"].boundingBoxWGS84[::2] == (-180.0, 180.0), "across the antimeridian: all longitudes"


def test_resource_url_templates(catalog):
    service = WebMapTileService(f"{catalog}/wmts")
    rest = f"{catalog}/wmts/1.0.0"
    templates = {(r["resourceType"], r["format"]): r["template"] for r in service["landsat"].resourceURLs}
    assert templates[("tile", "image/png")] == \
        f"{rest}/landsat/{{Style}}/{{Time}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.png"
    assert templates[("tile", "image/webp")].endswith("{TileCol}.webp")
    assert templates[("FeatureInfo", "application/json")] == \
        f"{rest}/landsat/{{Style}}/{{Time}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}/{{J}}/{{I}}.json"
    image_templates = {r["format"]: r["template"] for r in service["cog1"].resourceURLs}
    assert image_templates["image/jpeg"] == \
        f"{rest}/cog1/{{Style}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.jpg"
    assert image_templates["text/html"].endswith("{TileCol}/{J}/{I}.html")


def test_tile_matrix_sets_and_limits(catalog, db):
    service = WebMapTileService(f"{catalog}/wmts")
    web, crs84 = service.tilematrixsets["WebMercatorQuad"], service.tilematrixsets["WorldCRS84Quad"]
    assert web.crs == "urn:ogc:def:crs:EPSG::3857" and crs84.crs == "urn:ogc:def:crs:OGC:1.3:CRS84"
    assert len(web.tilematrix) == 25 and len(crs84.tilematrix) == 24
    for matrices, tms in ((web.tilematrix, TMS["WebMercatorQuad"]), (crs84.tilematrix, TMS["WorldCRS84Quad"])):
        for zoom in (0, 10, tms.maxzoom):
            ours, theirs = matrices[str(zoom)], tms.matrix(zoom)
            assert ours.scaledenominator == pytest.approx(theirs.scaleDenominator, rel=1e-12)
            assert (ours.matrixwidth, ours.matrixheight) == (theirs.matrixWidth, theirs.matrixHeight)
            assert (ours.tilewidth, ours.tileheight) == (256, 256)
    assert web.tilematrix["0"].topleftcorner == pytest.approx((-20037508.342789244, 20037508.342789244))
    assert crs84.tilematrix["0"].topleftcorner == (-180.0, 90.0), "CRS84: longitude first"
    xml = requests.get(f"{catalog}/wmts/1.0.0/WMTSCapabilities.xml").text
    assert "<WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>" in xml

    # The limits are TileJSON's zooms, and at each the tiles the layer's box touches.
    bbox = image_row(db, "cog1").bbox
    for tms_id in TMS:
        tilejson = get_ok(f"{catalog}/tiles/cog1/{tms_id}/tilejson.json").json()
        limits = service["cog1"].tilematrixsetlinks[tms_id].tilematrixlimits
        assert sorted(int(z) for z in limits) == list(range(tilejson["minzoom"], tilejson["maxzoom"] + 1))
        for zoom in (tilejson["minzoom"], tilejson["maxzoom"]):
            tiles = list(TMS[tms_id].tiles(*bbox, [zoom]))
            found = limits[str(zoom)]
            assert (found.mintilerow, found.maxtilerow) == (min(t.y for t in tiles), max(t.y for t in tiles))
            assert (found.mintilecol, found.maxtilecol) == (min(t.x for t in tiles), max(t.x for t in tiles))
    dateline = service["dateline"].tilematrixsetlinks["WebMercatorQuad"].tilematrixlimits
    zoom = max(dateline, key=int)
    assert (dateline[zoom].mintilecol, dateline[zoom].maxtilecol) == (0, 2 ** int(zoom) - 1)


def test_capabilities_encodings_and_caching(catalog):
    kvp = get_ok(f"{catalog}/wmts", service="WMTS", request="GetCapabilities", version="1.0.0")
    rest = get_ok(f"{catalog}/wmts/1.0.0/WMTSCapabilities.xml")
    assert kvp.content == rest.content and kvp.headers["Content-Type"] == "application/xml"
    assert get_ok(f"{catalog}/wmts", SeRvIcE="wmts", REQUEST="getcapabilities").content == kvp.content
    again = requests.get(rest.url, headers={"If-None-Match": rest.headers["ETag"]})
    assert again.status_code == 304


def test_capabilities_reference_no_other_host(catalog):
    document = etree.fromstring(get_ok(f"{catalog}/wmts/1.0.0/WMTSCapabilities.xml").content)
    values = [v for element in document.iter() for v in (*element.attrib.values(), element.text or "")]
    urls = [u for v in values for u in re.findall(r"[a-z][a-z0-9+.-]*://[^\s\"'<>]+", v, re.I)]
    assert urls, "the document has URLs to check"
    assert all(u.startswith(f"{catalog}/wmts") for u in urls), [u for u in urls if not u.startswith(catalog)]
    assert b"schemaLocation" not in etree.tostring(document)


# -- tiles --------------------------------------------------------------------------------------
@pytest.mark.parametrize("tms_id", list(TMS))
def test_tiles_equal_xyz_tiles_kvp_and_rest(catalog, db, tms_id):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "cog1", tms_id)
    tile = centre_tile(tms_id, image_row(db, "cog1").bbox, zoom)
    expected = xyz_tile(catalog, "cog1", tms_id, tile)
    assert expected[..., 3].mean() > 0.5, "the tile shows the image"

    kvp = service.gettile(layer="cog1", tilematrixset=tms_id, tilematrix=str(zoom), row=tile.y, column=tile.x,
                          format="image/png", style="default")
    assert kvp.info()["Content-Type"] == "image/png"
    assert np.array_equal(rgba(kvp.read()), expected)

    url = rest_tile_url(service, "cog1", tms_id, zoom, tile)
    response = get_ok(url)
    assert np.array_equal(rgba(response.content), expected)
    assert response.headers["Cache-Control"].startswith("public")
    assert requests.get(url, headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("mime, kind", [("image/jpeg", "JPEG"), ("image/webp", "WEBP")])
def test_other_formats(catalog, db, mime, kind):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "cog1", "WebMercatorQuad")
    tile = centre_tile("WebMercatorQuad", image_row(db, "cog1").bbox, zoom)
    kvp = service.gettile(layer="cog1", tilematrixset="WebMercatorQuad", tilematrix=str(zoom), row=tile.y,
                          column=tile.x, format=mime)
    assert kvp.info()["Content-Type"] == mime and Image.open(io.BytesIO(kvp.read())).format == kind
    ext = {"image/jpeg": "jpg", "image/webp": "webp"}[mime]
    rest = get_ok(f"{catalog}/wmts/1.0.0/cog1/default/WebMercatorQuad/{zoom}/{tile.y}/{tile.x}.{ext}")
    assert Image.open(io.BytesIO(rest.content)).format == kind


def test_time_picks_acquisitions_of_a_collection(catalog, db):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "landsat", "WebMercatorQuad") - 1
    tile = overlap_tile(db, "WebMercatorQuad", zoom)
    # the collection's stretch (its newest image's) for the images alone too: the pixels compare
    stretch = {"rescale": [f"{s['p2']},{s['p98']}" for s in (b["statistics"] for b in image_row(db, "cog2").bands)]}
    older = xyz_tile(catalog, "cog1", "WebMercatorQuad", tile, **stretch)
    newer = xyz_tile(catalog, "cog2", "WebMercatorQuad", tile, **stretch)
    mosaic = xyz_tile(catalog, "landsat", "WebMercatorQuad", tile)
    assert not np.array_equal(older, newer) and not np.array_equal(mosaic, newer), "the tile spans both images"

    def kvp(**time):
        return rgba(service.gettile(layer="landsat", tilematrixset="WebMercatorQuad", tilematrix=str(zoom),
                                    row=tile.y, column=tile.x, format="image/png", **time).read())

    assert np.array_equal(kvp(), newer), "without TIME: the Default, the newest acquisition"
    assert np.array_equal(kvp(TIME=JANUARY_1), older)
    assert np.array_equal(kvp(TIME=JANUARY_20), newer)
    assert np.array_equal(kvp(TIME="2020-01-01"), older), "a day selects that day's images"
    assert np.array_equal(kvp(TIME="2020-01-01/2020-01-31"), mosaic), "an interval draws the mosaic"
    for value, expected in ((JANUARY_1, older), (JANUARY_20, newer)):
        url = rest_tile_url(service, "landsat", "WebMercatorQuad", zoom, tile, Time=value)
        assert f"/{value}/" in url
        assert np.array_equal(rgba(get_ok(url).content), expected)


def test_styles_and_vendor_parameters(catalog, db):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "cog1", "WebMercatorQuad")
    tile = centre_tile("WebMercatorQuad", image_row(db, "cog1").bbox, zoom)
    kvp = dict(layer="cog1", tilematrixset="WebMercatorQuad", tilematrix=str(zoom), row=tile.y, column=tile.x,
               format="image/png")
    natural = xyz_tile(catalog, "cog1", "WebMercatorQuad", tile, style="natural")
    assert np.array_equal(rgba(service.gettile(style="natural", **kvp).read()), natural)
    assert not np.array_equal(natural, xyz_tile(catalog, "cog1", "WebMercatorQuad", tile))

    vendor = {"bands": "2", "colormap": "magma", "rescale": "0,15000"}
    expected = xyz_tile(catalog, "cog1", "WebMercatorQuad", tile, **vendor)
    shouted = {key.upper(): value for key, value in vendor.items()}
    assert np.array_equal(rgba(service.gettile(style="default", **kvp, **shouted).read()), expected)
    rest = f"{catalog}/wmts/1.0.0/cog1/default/WebMercatorQuad/{zoom}/{tile.y}/{tile.x}.png"
    assert np.array_equal(rgba(get_ok(rest, **vendor).content), expected)
    expression = {"expression": "(b3-b1)/(b3+b1)", "colormap": "rdylgn", "rescale": "-0.5,0.5"}
    assert np.array_equal(rgba(get_ok(rest, **expression).content),
                          xyz_tile(catalog, "cog1", "WebMercatorQuad", tile, **expression))


def test_antimeridian_layer(catalog, db):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "dateline", "WebMercatorQuad") - 2
    west, south, east, north = image_row(db, "dateline").bbox
    assert west < 180 < east
    for lon in (179.9, -179.9):  # both sides of the antimeridian
        tile = TMS["WebMercatorQuad"].tile(lon, (south + north) / 2, zoom)
        expected = xyz_tile(catalog, "dateline", "WebMercatorQuad", tile)
        assert expected[..., 3].max() == 255
        url = f"{catalog}/wmts/1.0.0/dateline/default/WebMercatorQuad/{zoom}/{tile.y}/{tile.x}.png"
        assert np.array_equal(rgba(get_ok(url).content), expected)


def test_zooms_beyond_the_native_one_are_drawn(catalog, db):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "cog1", "WebMercatorQuad") + 2
    tile = centre_tile("WebMercatorQuad", image_row(db, "cog1").bbox, zoom)
    url = f"{catalog}/wmts/1.0.0/cog1/default/WebMercatorQuad/{zoom}/{tile.y}/{tile.x}.png"
    assert np.array_equal(rgba(get_ok(url).content), xyz_tile(catalog, "cog1", "WebMercatorQuad", tile))


# -- feature info ---------------------------------------------------------------------------------
def pixel_centre(tms_id, tile, i, j):
    left, bottom, right, top = TMS[tms_id].xy_bounds(tile)
    return left + (i + 0.5) * (right - left) / 256, top - (j + 0.5) * (top - bottom) / 256


def rasterio_values(settings, row, tms_id, x, y):
    """The oracle: the stored COG's full-resolution pixel under (x, y), read with rasterio."""
    with rasterio.open(image_file(settings, row)) as src:
        to_image = Transformer.from_crs(TMS[tms_id].rasterio_crs, src.crs, always_xy=True)
        ix, iy = to_image.transform(x, y)
        r, c = src.index(ix, iy, op=math.floor)
        return src.read(window=Window(c, r, 1, 1))[:, 0, 0].tolist(), list(src.descriptions)


def feature_info(base, layer, tms_id, zoom, tile, i, j, info_format="application/json", **extra):
    return get_ok(f"{base}/wmts", SERVICE="WMTS", REQUEST="GetFeatureInfo", VERSION="1.0.0", LAYER=layer,
                  STYLE="default", TILEMATRIXSET=tms_id, TILEMATRIX=str(zoom), TILEROW=str(tile.y),
                  TILECOL=str(tile.x), I=str(i), J=str(j), INFOFORMAT=info_format, **extra)


@pytest.mark.parametrize("tms_id", list(TMS))
def test_feature_info_values_are_rasterio_values(catalog, db, settings, tms_id):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "cog1", tms_id)
    row = image_row(db, "cog1")
    tile = centre_tile(tms_id, row.bbox, zoom)
    i, j = 77, 201
    expected, _ = rasterio_values(settings, row, tms_id, *pixel_centre(tms_id, tile, i, j))
    assert any(expected), "a pixel with data"

    doc = feature_info(catalog, "cog1", tms_id, zoom, tile, i, j).json()
    (feature,) = doc["features"]
    properties = feature["properties"]
    names = [band["name"] or f"b{n}" for n, band in enumerate(row.bands, start=1)]
    assert [properties[name] for name in names] == expected
    assert properties["image_id"] == "cog1" and properties["acquired_at"] == JANUARY_1
    lon, lat = TMS[tms_id].lnglat(*pixel_centre(tms_id, tile, i, j))
    assert feature["geometry"]["coordinates"] == pytest.approx([lon, lat])

    rest = get_ok(f"{catalog}/wmts/1.0.0/cog1/default/{tms_id}/{zoom}/{tile.y}/{tile.x}/{j}/{i}.json")
    assert rest.json() == doc
    text = feature_info(catalog, "cog1", tms_id, zoom, tile, i, j, "text/plain")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert f"{names[0]}: {expected[0]}" in text.text and "image_id: cog1" in text.text
    html = feature_info(catalog, "cog1", tms_id, zoom, tile, i, j, "text/html")
    assert html.headers["Content-Type"].startswith("text/html")
    assert f"<th>{names[0]}</th><td>{expected[0]}</td>" in html.text


def test_feature_info_of_a_collection_follows_time(catalog, db, settings):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "landsat", "WebMercatorQuad")
    one, two = image_row(db, "cog1"), image_row(db, "cog2")
    lon, lat = (max(one.bbox[0], two.bbox[0]) + min(one.bbox[2], two.bbox[2])) / 2, \
        (max(one.bbox[1], two.bbox[1]) + min(one.bbox[3], two.bbox[3])) / 2
    tile = TMS["WebMercatorQuad"].tile(lon, lat, zoom)
    x, y = pixel_centre("WebMercatorQuad", tile, 128, 128)
    for time, row in ((None, two), (JANUARY_20, two), (JANUARY_1, one)):
        extra = {"TIME": time} if time else {}
        answer = feature_info(catalog, "landsat", "WebMercatorQuad", zoom, tile, 128, 128, **extra)
        (feature,) = answer.json()["features"]
        expected, _ = rasterio_values(settings, row, "WebMercatorQuad", x, y)
        assert feature["properties"]["image_id"] == row.id
        assert [v for k, v in feature["properties"].items() if k not in
                ("layer", "image_id", "collection_id", "acquired_at")] == expected
        assert feature["properties"]["collection_id"] == "landsat"


def test_feature_info_float_values_and_no_data(catalog, db, settings):
    service = WebMapTileService(f"{catalog}/wmts")
    row = image_row(db, "india")
    zoom = native_zoom(service, "india", "WorldCRS84Quad")
    tile = centre_tile("WorldCRS84Quad", row.bbox, zoom)
    values = {ij: rasterio_values(settings, row, "WorldCRS84Quad", *pixel_centre("WorldCRS84Quad", tile, *ij))[0][0]
              for ij in ((i, j) for i in range(0, 256, 51) for j in range(0, 256, 51))}
    data = [ij for ij, value in values.items() if not math.isnan(value)]
    nan = [ij for ij, value in values.items() if math.isnan(value)]
    assert data and nan, "the tile has pixels with data and NaN pixels"
    (feature,) = feature_info(catalog, "india", "WorldCRS84Quad", zoom, tile, *data[0]).json()["features"]
    value = list(feature["properties"].values())[-1]
    assert isinstance(value, float) and value == values[data[0]]
    (feature,) = feature_info(catalog, "india", "WorldCRS84Quad", zoom, tile, *nan[0]).json()["features"]
    assert list(feature["properties"].values())[-1] is None, "NaN is no data: null, not NaN (invalid JSON)"

    west, south, east, north = row.bbox
    outside = TMS["WorldCRS84Quad"].tile(east + 1, north + 1, zoom - 6)
    doc = feature_info(catalog, "india", "WorldCRS84Quad", zoom - 6, outside, 0, 0).json()
    assert doc == {"type": "FeatureCollection", "features": []}
    assert "no data" in feature_info(catalog, "india", "WorldCRS84Quad", zoom - 6, outside, 0, 0, "text/plain").text


# -- GDAL, as QGIS opens it ---------------------------------------------------------------------
@pytest.mark.parametrize("tms_id", list(TMS))
def test_gdal_wmts_driver_reads_the_tiles(catalog, db, tmp_path, tms_id):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "cog1", tms_id)
    tile = centre_tile(tms_id, image_row(db, "cog1").bbox, zoom)
    expected = xyz_tile(catalog, "cog1", tms_id, tile)
    left, _, _, top = TMS[tms_id].xy_bounds(tile)
    opened = f"WMTS:{catalog}/wmts/1.0.0/WMTSCapabilities.xml,layer=cog1,tilematrixset={tms_id},zoom_level={zoom}"
    with rasterio.Env(GDAL_DEFAULT_WMS_CACHE_PATH=str(tmp_path / "gdal cache")), rasterio.open(opened) as src:
        assert src.count == 4 and src.crs == TMS[tms_id].rasterio_crs
        col, row = (left - src.transform.c) / src.transform.a, (src.transform.f - top) / -src.transform.e
        assert col == pytest.approx(round(col), abs=1e-6) and row == pytest.approx(round(row), abs=1e-6)
        col, row = round(col), round(row)
        # The part of the tile inside the dataset's extent (the layer's box on the tile grid).
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + 256, src.width), min(row + 256, src.height)
        data = src.read(window=Window(c0, r0, c1 - c0, r1 - r0))
    assert (c1 - c0) * (r1 - r0) > 256 * 64, "a good part of the tile"
    assert np.array_equal(np.moveaxis(data, 0, -1), expected[r0 - row:r1 - row, c0 - col:c1 - col])


def test_gdal_reads_a_collection_at_its_default_time(catalog, db, tmp_path):
    service = WebMapTileService(f"{catalog}/wmts")
    zoom = native_zoom(service, "landsat", "WebMercatorQuad")
    bbox = image_row(db, "cog2").bbox
    tile = centre_tile("WebMercatorQuad", bbox, zoom)
    expected = xyz_tile(catalog, "cog2", "WebMercatorQuad", tile)
    left, _, _, top = TMS["WebMercatorQuad"].xy_bounds(tile)
    opened = (f"WMTS:{catalog}/wmts/1.0.0/WMTSCapabilities.xml,layer=landsat,tilematrixset=WebMercatorQuad,"
              f"zoom_level={zoom},style=default")
    with rasterio.Env(GDAL_DEFAULT_WMS_CACHE_PATH=str(tmp_path / "gdal cache")), rasterio.open(opened) as src:
        col = round((left - src.transform.c) / src.transform.a)
        row = round((src.transform.f - top) / -src.transform.e)
        data = src.read(window=Window(col, row, 256, 256))
    assert np.array_equal(np.moveaxis(data, 0, -1), expected)


# -- exceptions ---------------------------------------------------------------------------------
def assert_report(response, status, code, locator):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/xml"
    report = etree.fromstring(response.content)
    assert report.tag == f"{OWS}ExceptionReport" and report.get("version") == "1.0.0"
    (exception,) = report.findall(f"{OWS}Exception")
    assert exception.get("exceptionCode") == code
    assert exception.get("locator") == locator
    assert exception.findtext(f"{OWS}ExceptionText").strip()
    return exception.findtext(f"{OWS}ExceptionText")


TILE = {"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "cog1", "STYLE": "default",
        "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": "3", "TILEROW": "2", "TILECOL": "2"}
INFO = {**TILE, "REQUEST": "GetFeatureInfo", "I": "10", "J": "20", "INFOFORMAT": "application/json"}


def without(params, name):
    return {k: v for k, v in params.items() if k != name}


@pytest.mark.parametrize("params, status, code, locator", [
    ({}, 400, "MissingParameterValue", "SERVICE"),
    ({"SERVICE": "WMS", "REQUEST": "GetCapabilities"}, 400, "InvalidParameterValue", "SERVICE"),
    ({"SERVICE": "WMTS"}, 400, "MissingParameterValue", "REQUEST"),
    ({"SERVICE": "WMTS", "REQUEST": "GetMap"}, 501, "OperationNotSupported", "REQUEST"),
    ({"SERVICE": "WMTS", "REQUEST": "GetCapabilities", "ACCEPTVERSIONS": "2.0.0"}, 400, "VersionNegotiationFailed",
     "ACCEPTVERSIONS"),
    ({**TILE, "VERSION": "2.0.0"}, 400, "InvalidParameterValue", "VERSION"),
    (without(TILE, "LAYER"), 400, "MissingParameterValue", "LAYER"),
    ({**TILE, "LAYER": "nope"}, 400, "InvalidParameterValue", "LAYER"),
    ({**TILE, "LAYER": "../etc/passwd"}, 400, "InvalidParameterValue", "LAYER"),
    (without(TILE, "STYLE"), 400, "MissingParameterValue", "STYLE"),
    ({**TILE, "STYLE": "fancy"}, 400, "InvalidParameterValue", "STYLE"),
    (without(TILE, "FORMAT"), 400, "MissingParameterValue", "FORMAT"),
    ({**TILE, "FORMAT": "image/gif"}, 400, "InvalidParameterValue", "FORMAT"),
    (without(TILE, "TILEMATRIXSET"), 400, "MissingParameterValue", "TILEMATRIXSET"),
    ({**TILE, "TILEMATRIXSET": "EPSG:3857"}, 400, "InvalidParameterValue", "TILEMATRIXSET"),
    (without(TILE, "TILEMATRIX"), 400, "MissingParameterValue", "TILEMATRIX"),
    ({**TILE, "TILEMATRIX": "30"}, 400, "InvalidParameterValue", "TILEMATRIX"),
    ({**TILE, "TILEMATRIX": ""}, 400, "InvalidParameterValue", "TILEMATRIX"),
    (without(TILE, "TILEROW"), 400, "MissingParameterValue", "TILEROW"),
    ({**TILE, "TILEROW": "-1"}, 400, "InvalidParameterValue", "TILEROW"),
    ({**TILE, "TILECOL": "two"}, 400, "InvalidParameterValue", "TILECOL"),
    ({**TILE, "TILECOL": "\u00b2"}, 400, "InvalidParameterValue", "TILECOL"),  # a digit to isdigit()
    ({**TILE, "TILEROW": "8"}, 400, "TileOutOfRange", "TILEROW"),
    ({**TILE, "TILECOL": "99999999999999999999"}, 400, "TileOutOfRange", "TILECOL"),
    ({**TILE, "TILECOL": "7"}, 400, "TileOutOfRange", "TILECOL"),  # inside the matrix, outside the layer
    ({**TILE, "LAYER": "landsat", "TIME": "last week"}, 400, "InvalidParameterValue", "TIME"),
    ({**TILE, "LAYER": "landsat", "TIME": "2020-02-01/2020-01-01"}, 400, "InvalidParameterValue", "TIME"),
    ({**TILE, "bands": "9"}, 400, "InvalidParameterValue", "bands"),
    ({**TILE, "BANDS": "B1,B2"}, 400, "InvalidParameterValue", "bands"),
    ({**TILE, "expression": "b1+"}, 400, "InvalidParameterValue", "expression"),
    ({**TILE, "colormap": "rainbow-unicorn"}, 400, "InvalidParameterValue", "colormap"),
    ({**TILE, "rescale": "nan,1"}, 400, "InvalidParameterValue", "rescale"),
    ({**TILE, "gamma": "0"}, 400, "InvalidParameterValue", "gamma"),
    ({**TILE, "resampling": "magic"}, 400, "InvalidParameterValue", "resampling"),
    ({**TILE, "nodata": "-5"}, 400, "InvalidParameterValue", "nodata"),  # not a uint16 value
    (without(INFO, "INFOFORMAT"), 400, "MissingParameterValue", "INFOFORMAT"),
    ({**INFO, "INFOFORMAT": "application/vnd.ogc.gml"}, 400, "InvalidParameterValue", "INFOFORMAT"),
    (without(INFO, "I"), 400, "MissingParameterValue", "I"),
    ({**INFO, "J": "-3"}, 400, "InvalidParameterValue", "J"),
    ({**INFO, "I": "256"}, 400, "PointIJOutOfRange", "I"),
    ({**INFO, "TILEROW": "0"}, 400, "TileOutOfRange", "TILEROW"),
    ({**INFO, "FORMAT": "image/tiff"}, 400, "InvalidParameterValue", "FORMAT"),
])
def test_kvp_exceptions(catalog, params, status, code, locator):
    assert_report(requests.get(f"{catalog}/wmts", params=params), status, code, locator)


@pytest.mark.parametrize("path, status, code, locator", [
    ("/nope/default/WebMercatorQuad/3/2/2.png", 404, "InvalidParameterValue", "LAYER"),
    ("/cog1/fancy/WebMercatorQuad/3/2/2.png", 404, "InvalidParameterValue", "STYLE"),
    ("/cog1/default/Mercator/3/2/2.png", 404, "InvalidParameterValue", "TILEMATRIXSET"),
    ("/cog1/default/WebMercatorQuad/3/2/2.gif", 404, "InvalidParameterValue", "FORMAT"),
    ("/cog1/default/WebMercatorQuad/3x/2/2.png", 404, "InvalidParameterValue", "TILEMATRIX"),
    ("/cog1/default/WebMercatorQuad/3/2/x.png", 404, "InvalidParameterValue", "TILECOL"),
    ("/cog1/default/WebMercatorQuad/3/9/2.png", 404, "TileOutOfRange", "TILEROW"),
    ("/landsat/default/yesterday/WebMercatorQuad/3/2/2.png", 404, "InvalidParameterValue", "TIME"),
    ("/cog1/default/WebMercatorQuad/3/2/2/20/300.json", 404, "PointIJOutOfRange", "I"),
    ("/cog1/default/WebMercatorQuad/3/2/2/20/10.xml", 404, "InvalidParameterValue", "INFOFORMAT"),
    ("/cog1/default/WebMercatorQuad/3/2/2.png?bands=9", 400, "InvalidParameterValue", "bands"),
    ("/cog1/default/WebMercatorQuad/3/2/2/20/10.json?expression=b9", 400, "InvalidParameterValue", "expression"),
    ("/cog1", 404, "InvalidParameterValue", None),
    ("/2.0.0/WMTSCapabilities.xml", 404, "InvalidParameterValue", None),
])
def test_restful_exceptions(catalog, path, status, code, locator):
    assert_report(requests.get(f"{catalog}/wmts/1.0.0{path}"), status, code, locator)


def test_exception_text_is_escaped_and_specific(catalog):
    text = assert_report(requests.get(f"{catalog}/wmts", params={**TILE, "LAYER": "<b>&"}), 400,
                         "InvalidParameterValue", "LAYER")
    assert "'<b>&'" in text
    text = assert_report(requests.get(f"{catalog}/wmts", params={**TILE, "STYLE": "fancy"}), 400,
                         "InvalidParameterValue", "STYLE")
    assert "default, natural, red-viridis" in text
