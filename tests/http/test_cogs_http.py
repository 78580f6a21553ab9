"""`/cogs/{id}.tif`: raw COG bytes over HTTP, as GDAL's /vsicurl/, QGIS and browsers read them."""

from __future__ import annotations

import email
import shutil

import numpy as np
import pytest
import rasterio
import requests

from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.ingest.images import IngestRequest, ingest_file
from helpers import REAL_DATA


@pytest.fixture
def served(db, settings, live_server, tmp_path):
    """Three images: a copied COG, a converted GeoTIFF and a COG referenced in place."""
    in_place = tmp_path / "shared folder" / "bahamas rgb.tif"
    in_place.parent.mkdir()
    shutil.copy(REAL_DATA / "localtileserver/bahamas_rgb.tif", in_place)
    files = {}
    for request in (IngestRequest(path=REAL_DATA / "titiler/TCI.tif", image_id="tci"),
                    IngestRequest(path=REAL_DATA / "rasterio/RGB.byte.tif", image_id="rgb"),
                    IngestRequest(path=in_place, image_id="inplace", in_place=True)):
        assert ingest_file(db, settings, request).status == "added"
        with db.connection() as conn:
            files[request.image_id] = image_file(settings, queries.get_image(conn, request.image_id))
    return live_server, files


@pytest.mark.parametrize("image_id", ["tci", "rgb", "inplace"])
def test_gdal_vsicurl_reads_the_same_pixels(served, image_id):
    base, files = served
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif",
                      GDAL_HTTP_MULTIRANGE="YES", CPL_VSIL_CURL_CACHE_SIZE=0), \
            rasterio.open(f"/vsicurl/{base}/cogs/{image_id}.tif") as remote, rasterio.open(files[image_id]) as local:
        assert remote.profile == local.profile
        assert np.array_equal(remote.read(), local.read())
        shape = (local.count, local.height // 4, local.width // 4)  # from the overviews
        assert np.array_equal(remote.read(out_shape=shape), local.read(out_shape=shape))
        window = ((100, 300), (200, 500))
        assert np.array_equal(remote.read(window=window), local.read(window=window))


def test_whole_file_with_validators_and_cors(served):
    base, files = served
    response = requests.get(f"{base}/cogs/tci.tif")
    assert response.status_code == 200
    assert response.content == files["tci"].read_bytes()
    assert response.headers["Content-Type"] == "image/tiff"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == files["tci"].stat().st_size
    assert response.headers["ETag"].startswith('"') and response.headers["Last-Modified"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in response.headers["Access-Control-Expose-Headers"]

    head = requests.head(f"{base}/cogs/tci.tif")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == response.headers["Content-Length"]
    assert head.headers["ETag"] == response.headers["ETag"]

    preflight = requests.options(f"{base}/cogs/tci.tif", headers={
        "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range"})
    assert preflight.status_code == 204
    assert "Range" in preflight.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("header, start, stop", [
    ("bytes=0-99", 0, 100),
    ("bytes=1000-", 1000, None),
    ("bytes=-500", -500, None),
    ("bytes=100-99999999", 100, None),
])
def test_single_ranges(served, header, start, stop):
    base, files = served
    data = files["rgb"].read_bytes()
    expected = data[start:stop] if stop is not None else data[start:]
    response = requests.get(f"{base}/cogs/rgb.tif", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == expected
    first = start if start >= 0 else len(data) + start
    assert response.headers["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    assert int(response.headers["Content-Length"]) == len(expected)


def test_multiple_ranges_are_multipart_byteranges(served):
    base, files = served
    data = files["tci"].read_bytes()
    response = requests.get(f"{base}/cogs/tci.tif", headers={"Range": "bytes=0-15,100-199,-10"})
    assert response.status_code == 206
    assert response.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert int(response.headers["Content-Length"]) == len(response.content)
    message = email.message_from_bytes(
        b"Content-Type: " + response.headers["Content-Type"].encode() + b"\r\n\r\n" + response.content)
    parts = [(part["Content-Range"], part.get_payload(decode=True)) for part in message.get_payload()]
    size = len(data)
    assert parts == [(f"bytes 0-15/{size}", data[0:16]), (f"bytes 100-199/{size}", data[100:200]),
                     (f"bytes {size - 10}-{size - 1}/{size}", data[-10:])]


def test_unsatisfiable_and_ignored_ranges(served):
    base, files = served
    size = files["tci"].stat().st_size
    past = requests.get(f"{base}/cogs/tci.tif", headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["Content-Range"] == f"bytes */{size}"
    for odd in ("bytes=9-1", "lines=0-10", "bytes=abc"):
        response = requests.get(f"{base}/cogs/tci.tif", headers={"Range": odd})
        assert response.status_code == 200 and len(response.content) == size, odd


def test_conditional_requests(served):
    base, _ = served
    first = requests.get(f"{base}/cogs/tci.tif", headers={"Range": "bytes=0-9"})
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert requests.get(f"{base}/cogs/tci.tif", headers={"If-None-Match": etag}).status_code == 304
    assert requests.get(f"{base}/cogs/tci.tif", headers={"If-Modified-Since": modified}).status_code == 304
    assert requests.get(f"{base}/cogs/tci.tif", headers={"If-None-Match": '"other"'}).status_code == 200
    # If-Range: the range only while the file is the one the client has, else the whole file.
    same = requests.get(f"{base}/cogs/tci.tif", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (same.status_code, len(same.content)) == (206, 10)
    changed = requests.get(f"{base}/cogs/tci.tif", headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert changed.status_code == 200 and len(changed.content) > 10
    dated = requests.get(f"{base}/cogs/tci.tif", headers={"Range": "bytes=0-9", "If-Range": modified})
    assert dated.status_code == 206


@pytest.mark.parametrize("path", [
    "/cogs/nope.tif", "/cogs/..%2F..%2Fetc%2Fpasswd.tif", "/cogs/%2e%2e.tif", "/cogs/../cogs/nope.tif",
    "/cogs/tci%00.tif",
])
def test_unknown_ids_are_404_problems(served, path):
    base, _ = served
    response = requests.get(base + path)
    assert response.status_code == 404
    if response.headers["Content-Type"] == "application/problem+json":
        body = response.json()
        assert body["status"] == 404 and body["title"] == "Not Found" and body["detail"]


def test_missing_file_is_410(served):
    base, files = served
    files["inplace"].unlink()
    response = requests.get(f"{base}/cogs/inplace.tif")
    assert response.status_code == 410
    assert response.json()["detail"] == "the file of image 'inplace' is missing on the server"


def test_cogs_are_declared_and_checked_as_the_api_is(served):
    """In the OpenAPI document with their answers; unknown parameters refused with the API's
    problem; the CORS headers of a COG read on every answer, errors included."""
    base, files = served
    document = requests.get(f"{base}/api/v1/openapi.json").json()
    operations = document["paths"]["/cogs/{image_id}.tif"]
    assert set(operations) == {"get", "head", "options"}
    assert {"200", "206", "304", "404", "410", "416"} <= set(operations["get"]["responses"])
    assert "Content-Range" in operations["get"]["responses"]["206"]["headers"]
    assert {"200", "503"} <= set(document["paths"]["/api/v1/health"]["get"]["responses"])

    unknown = requests.get(f"{base}/cogs/tci.tif", params={"colour": "red"})
    assert unknown.status_code == 400 and unknown.headers["Content-Type"] == "application/problem+json"
    assert unknown.json()["detail"].startswith("unknown parameter(s): colour")
    size = files["tci"].stat().st_size
    past = requests.get(f"{base}/cogs/tci.tif", headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.json()["status"] == 416
    files["inplace"].unlink()
    for answer in (unknown, past, requests.get(f"{base}/cogs/nope.tif"), requests.get(f"{base}/cogs/inplace.tif"),
                   requests.get(f"{base}/cogs/tci.tif"), requests.head(f"{base}/cogs/tci.tif")):
        assert answer.headers["Access-Control-Allow-Origin"] == "*", answer.status_code
        assert "Content-Range" in answer.headers["Access-Control-Expose-Headers"], answer.status_code
