"""The object store the storage work stands on (issue 15): COGs in a real OpenStack Swift cluster
(Debian's servers, tools/swift_cluster.py), read by GDAL through /vsiswift/ and through the same
cluster's S3 API (/vsis3/), and through a Swift TempURL by /vsicurl/ as QGIS would: the same pixels
as the file on disk, every way."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.request

import numpy as np
import pytest
import rasterio

from helpers import REAL_DATA

pytestmark = pytest.mark.slow

COG = REAL_DATA / "titiler" / "cog1.tif"  # Landsat 8, 779 x 790, uint16, overviews 2 and 4


def swift(cluster, method: str, path: str, data: bytes | None = None, headers: dict | None = None) -> int:
    storage, token = cluster.token()
    request = urllib.request.Request(storage + path, data=data, method=method,
                                     headers={"X-Auth-Token": token, **(headers or {})})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status


@pytest.fixture(scope="module")
def stored(swift_store):
    """cog1.tif in the container `cogs` of the test account."""
    swift(swift_store, "PUT", "/cogs")
    assert swift(swift_store, "PUT", "/cogs/cog1.tif", COG.read_bytes()) == 201
    return swift_store


def pixels(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The full-resolution band 1 and the band 1 of the smallest overview."""
    with rasterio.open(path) as src:
        return src.read(1), src.read(1, out_shape=(src.height // 4, src.width // 4))


@pytest.mark.parametrize("prefix", ["/vsiswift/", "/vsis3/"])
def test_a_cog_in_the_store_reads_as_on_disk(stored, prefix, monkeypatch):
    for name, value in stored.environment.items():
        monkeypatch.setenv(name, value)
    full, overview = pixels(f"{prefix}cogs/cog1.tif")
    local_full, local_overview = pixels(str(COG))
    assert np.array_equal(full, local_full) and np.array_equal(overview, local_overview)


def test_a_tempurl_lets_vsicurl_read_the_cog_without_credentials(stored):
    """What `COGBROWSER_RAW_ACCESS=redirect` will hand a client: a short-lived signed URL of the
    object, which GDAL reads with HTTP range requests and no Swift credentials."""
    key = "cogbrowser-tempurl-key"
    assert swift(stored, "POST", "", headers={"X-Account-Meta-Temp-URL-Key": key}) == 204
    storage, _ = stored.token()
    path = "/v1/" + storage.split("/v1/", 1)[1] + "/cogs/cog1.tif"
    expires = int(time.time()) + 300
    signature = hmac.new(key.encode(), f"GET\n{expires}\n{path}".encode(), hashlib.sha256).hexdigest()
    url = f"{stored.url}{path}?temp_url_sig={signature}&temp_url_expires={expires}"
    full, _ = pixels(f"/vsicurl/{url}")
    assert np.array_equal(full, pixels(str(COG))[0])
    wrong = url.replace(signature, "0" * len(signature))
    with pytest.raises(rasterio.errors.RasterioIOError):
        rasterio.open(f"/vsicurl/{wrong}")


def test_the_reader_reads_an_object_with_the_swift_clients_own_variables(stored, tmp_path):
    """docs/storage.md accepts python-swiftclient's ST_AUTH, ST_USER and ST_KEY for GDAL's
    SWIFT_* names: a server whose first read is a tile of an object (no store opened yet, as for
    an image registered in place by swift:// without --storage) reads it with those alone."""
    import os
    import subprocess
    import sys

    environment = {name: value for name, value in os.environ.items() if not name.startswith(("SWIFT_", "ST_"))}
    given = stored.environment
    environment.update(ST_AUTH=given["SWIFT_AUTH_V1_URL"], ST_USER=given["SWIFT_USER"], ST_KEY=given["SWIFT_KEY"])
    script = ("from cogbrowser.raster import reader; import numpy as np; "
              "print(int(reader.dataset('/vsiswift/cogs/cog1.tif').read(1).astype(np.int64).sum()))")
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    with rasterio.open(COG) as src:
        assert int(done.stdout) == int(src.read(1).astype(np.int64).sum())
