"""Offline basemaps: the shipped Natural Earth layers, and a user's own MBTiles, PMTiles or COG
(`cogbrowser serve --basemap FILE`), served as XYZ tiles by the app."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import requests
from PIL import Image

from helpers import COLOURS, REAL_DATA, make_mbtiles, make_pmtiles, serving


def tile_colour(response) -> tuple[int, int, int]:
    assert response.status_code == 200, response.text
    pixels = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    return tuple(int(v) for v in pixels[128, 128])


def test_the_shipped_basemap_is_served(live_server):
    countries = requests.get(f"{live_server}/ui/basemap/countries-110m.geojson")
    assert countries.status_code == 200 and countries.headers["Content-Type"] == "application/geo+json"
    names = {f["properties"]["name"] for f in countries.json()["features"]}
    assert {"France", "Brazil", "Japan"} <= names
    assert requests.get(f"{live_server}/ui/basemap/secrets.geojson").status_code == 404, "only the shipped layers"
    assert requests.get(f"{live_server}/ui/basemap/tiles.json").status_code == 404, "no user basemap given"


@pytest.mark.parametrize("make", [make_mbtiles, make_pmtiles], ids=["mbtiles", "pmtiles"])
def test_a_tile_archive_as_basemap(settings, db, tmp_path, make):
    path = make(tmp_path / f"my basemap.{'mbtiles' if make is make_mbtiles else 'pmtiles'}")
    with serving(replace(settings, basemap=path), db) as base:
        info = requests.get(f"{base}/ui/basemap/tiles.json").json()
        assert (info["minzoom"], info["maxzoom"], info["attribution"]) == (0, 1, "survey office")
        for (z, x, y), colour in COLOURS.items():
            url = info["tiles"][0].format(z=z, x=x, y=y)
            assert tile_colour(requests.get(url)) == colour, "the tile of that z/x/y, rows flipped for MBTiles"
        assert requests.get(info["tiles"][0].format(z=1, x=0, y=1)).status_code == 404, "a tile it does not have"
        assert requests.get(f"{base}/ui/basemap/tiles/1/5/0").status_code == 404, "outside the grid"


def test_a_cog_as_basemap(settings, db):
    with serving(replace(settings, basemap=REAL_DATA / "rasterio/world.rgb.tif"), db) as base:
        info = requests.get(f"{base}/ui/basemap/tiles.json").json()
        assert info["format"] == "png" and info["maxzoom"] >= 1
        response = requests.get(info["tiles"][0].format(z=1, x=1, y=0))
        assert response.headers["Content-Type"] == "image/png"
        pixels = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))
        assert pixels[..., 3].mean() > 200 and pixels[..., :3].std() > 5, "the world drawn, not a flat tile"


@pytest.mark.parametrize("content, message", [
    (b"not a database at all, just text" * 10, "is not an MBTiles file"),
    (None, "no basemap file"),
])
def test_a_bad_basemap_is_one_line(settings, tmp_path, content, message):
    path = tmp_path / "broken.mbtiles"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(settings.data_dir),
                             "--database-url", settings.database_url,
                             "serve", "--port", "8799", "--basemap", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3, json.dumps(result.stderr)


def test_an_empty_tile_of_an_archive_is_missing_every_time(settings, db, tmp_path):
    """A tile the archive holds as no bytes is a 404, answered again (not kept as an empty picture);
    its other tiles carry an ETag and a day's Cache-Control."""
    path = make_mbtiles(tmp_path / "holes.mbtiles")
    with sqlite3.connect(path) as archive:
        archive.execute("INSERT INTO tiles VALUES (1, 1, 0, ?)", (b"",))  # z 1, x 1, y 1 (rows from the south)
    with serving(replace(settings, basemap=path), db) as base:
        for _ in range(2):
            assert requests.get(f"{base}/ui/basemap/tiles/1/1/1").status_code == 404
        answer = requests.get(f"{base}/ui/basemap/tiles/1/0/0")
        assert tile_colour(answer) == COLOURS[(1, 0, 0)]
        assert answer.headers["Cache-Control"] == "public, max-age=86400"
        again = requests.get(f"{base}/ui/basemap/tiles/1/0/0", headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304
