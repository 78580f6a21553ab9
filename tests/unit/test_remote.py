"""Which paths the reader must treat as remote (raster/remote.py): GDAL's network file systems, not
local files whose names merely look alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogbrowser.raster.remote import is_remote


@pytest.mark.parametrize("path", ["/vsiswift/cogs/scene.tif", "/vsis3/bucket/a/b.tif",
                                  "/vsicurl/https://example.org/x.tif", "/vsiaz/container/x.tif",
                                  "/vsigs/bucket/x.tif"])
def test_gdal_network_paths_are_remote(path):
    assert is_remote(path)


@pytest.mark.parametrize("path", ["/data/cogs/scene.tif", Path("/data/vsis3/x.tif"), "vsis3/x.tif",
                                  "/vsizip//data/a.zip/x.tif", "/vsimem/x.tif"])
def test_files_and_local_virtual_paths_are_not(path):
    assert not is_remote(path)

