"""One fault, one answer: the REST API, WMS 1.1.1 and 1.3.0 (report, INIMAGE, BLANK) and WMTS (KVP and
RESTful) give the same HTTP status and Retry-After for the same fault, each in its own dialect.

The REST API's status is the reference (web/problems.py). The dialects differ only where their
standards say so: WMS reports a fault of the request (400, 404) with HTTP 200 and a WMS code
(ogc/wms_exceptions.py says why); WMTS's KVP binding answers an unknown layer as
InvalidParameterValue, 400 (OGC 07-057r7, table 21), its RESTful binding 404. A fault that is not
the request's (a missing file, a missing token, an outage, a render stopped at its deadline) carries
its own status everywhere, the code NoApplicableCode in the OGC reports, and the same Retry-After
(or WWW-Authenticate). A GetMap with
EXCEPTIONS=INIMAGE or BLANK answers a picture with that same status (WMS 1.3.0, 7.3.3.11).

Five servers, one image's footprint: the ordinary one (`here`, and `lost`, whose file is gone), the
same catalog with a render budget too small for any tile, with a deadline already past, with reads
behind a token (COGBROWSER_READ_ACCESS=token), and a server whose PostgreSQL (a cluster of its own)
has been stopped. A full disk has no read to fault.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import morecantile
import numpy as np
import pytest
import requests
from lxml import etree
from PIL import Image

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.embedded import EmbeddedPostgres
from cogbrowser.catalog.files import image_file
from cogbrowser.config import Settings
from helpers import ingest_images, serving, shared_catalog

IMAGES = [("here", "titiler/B01.tif", None, None, None), ("lost", "titiler/B09.tif", None, None, None)]
TILE = morecantile.tms.get("WebMercatorQuad").tile(23.7, 32.0, 9)  # inside both images
BBOX = ",".join(str(v) for v in morecantile.tms.get("WebMercatorQuad").xy_bounds(TILE))
OGC = "{http://www.opengis.net/ogc}"
OWS = "{http://www.opengis.net/ows/1.1}"


@dataclass(frozen=True)
class Fault:
    server: str  # which of the `servers` shows it
    layer: str
    params: dict[str, str]
    status: int  # the REST API's
    retry_after: str | None
    words: str  # in the problem's detail and the reports' text
    wms_code: str  # WMS's code in the reports of both versions


FAULTS = {
    "unknown layer": Fault("ordinary", "nope", {}, 404, None, "'nope'", "LayerNotDefined"),
    "bad parameter": Fault("ordinary", "here", {"colormap": "rainbow-unicorn"}, 400, None,
                           "unknown colormap 'rainbow-unicorn'", "InvalidParameterValue"),
    "missing file": Fault("ordinary", "lost", {}, 410, None, "the file of image 'lost' is missing on the server",
                          "NoApplicableCode"),
    "token missing": Fault("locked", "here", {}, 401, None, "needs an API token", "NoApplicableCode"),
    "render too costly": Fault("tight", "here", {}, 400, None, "render budget of 1,000", "InvalidParameterValue"),
    "render deadline": Fault("hurried", "here", {}, 503, "10", "deadline", "NoApplicableCode"),
    "database outage": Fault("outage", "here", {}, 503, "2", "catalog unreachable", "NoApplicableCode"),
}

SURFACES = ["rest", "wms 1.3.0", "wms 1.1.1", "wms 1.3.0 INIMAGE", "wms 1.1.1 application/vnd.ogc.se_inimage",
            "wms 1.3.0 BLANK", "wms 1.1.1 application/vnd.ogc.se_blank", "wmts kvp", "wmts rest"]


@contextmanager
def stopped_catalog(folder: Path) -> Iterator[str]:
    """The app served on a catalog of its own PostgreSQL cluster (a server by URL, as on a LAN: not
    the server's to restart) with `here` in it; the cluster is stopped before the tests ask."""
    cluster = EmbeddedPostgres(folder / "elsewhere" / "postgres")
    data_dir = folder / "outage data dir"
    data_dir.mkdir()
    settings = Settings.from_env(data_dir=data_dir, database_url=cluster.start())
    try:
        with Database.open(settings) as db:
            ingest_images(db, settings, IMAGES[:1])
            with serving(settings, db) as url:
                cluster.stop()
                yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def servers(postgres, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The base URL of each server a fault is shown on."""
    folder = tmp_path_factory.mktemp("faults")
    with shared_catalog(postgres, folder) as (settings, db):
        ingest_images(db, settings, IMAGES)
        with db.connection() as conn:
            image_file(settings, queries.get_image(conn, "lost")).unlink()
        tight = dataclasses.replace(settings, render_budget=1000)  # less than any tile costs
        hurried = dataclasses.replace(settings, render_deadline=1e-9)  # past before any render starts
        locked = dataclasses.replace(settings, read_access="token")
        with serving(settings, db) as ordinary, serving(tight, db) as tight_url, \
                serving(hurried, db) as hurried_url, serving(locked, db) as locked_url, \
                stopped_catalog(folder) as outage:
            yield {"ordinary": ordinary, "tight": tight_url, "hurried": hurried_url, "locked": locked_url,
                   "outage": outage}


def ask(base: str, surface: str, fault: Fault) -> requests.Response:
    """The tile (or the map of the same area) of the fault's layer, on `surface`."""
    service, *rest = surface.split()
    if service == "rest":
        return requests.get(f"{base}/tiles/{fault.layer}/WebMercatorQuad/{TILE.z}/{TILE.x}/{TILE.y}.png",
                            params=fault.params, timeout=60)
    if service == "wmts":
        if rest == ["rest"]:
            return requests.get(f"{base}/wmts/1.0.0/{fault.layer}/default/WebMercatorQuad/{TILE.z}/{TILE.y}/{TILE.x}"
                                ".png", params=fault.params, timeout=60)
        return requests.get(f"{base}/wmts", timeout=60, params={
            "SERVICE": "WMTS", "VERSION": "1.0.0", "REQUEST": "GetTile", "LAYER": fault.layer, "STYLE": "default",
            "FORMAT": "image/png", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(TILE.z),
            "TILEROW": str(TILE.y), "TILECOL": str(TILE.x), **fault.params})
    version, *exceptions = rest
    params = {"SERVICE": "WMS", "VERSION": version, "REQUEST": "GetMap", "LAYERS": fault.layer, "STYLES": "",
              "CRS" if version == "1.3.0" else "SRS": "EPSG:3857", "BBOX": BBOX, "WIDTH": "256", "HEIGHT": "256",
              "FORMAT": "image/png", "TRANSPARENT": "TRUE", **fault.params}
    if exceptions:
        params["EXCEPTIONS"] = exceptions[0]
    return requests.get(f"{base}/wms", params=params, timeout=60)


def expected_status(surface: str, fault: Fault) -> int:
    """The REST API's status, but where a dialect's standard says otherwise (the module docstring)."""
    if surface.startswith("wms") and fault.status in (400, 404):
        return 200
    if surface == "wmts kvp" and fault.status == 404:
        return 400
    return fault.status


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("name", FAULTS)
def test_every_surface_answers_a_fault_alike(servers, name, surface):
    fault = FAULTS[name]
    answer = ask(servers[fault.server], surface, fault)
    assert (answer.status_code, answer.headers.get("Retry-After")) == (expected_status(surface, fault),
                                                                       fault.retry_after), answer.text[:500]
    if fault.status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    kind = answer.headers["Content-Type"]
    if surface == "rest":
        assert kind == "application/problem+json"
        assert answer.json()["status"] == fault.status and fault.words in answer.json()["detail"]
    elif surface.startswith("wms") and ("INIMAGE" in surface.upper() or "BLANK" in surface.upper()):
        assert kind == "image/png", answer.text[:500]
        rgba = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA"))
        assert rgba.shape == (256, 256, 4)
        if "INIMAGE" in surface.upper():
            assert (rgba[..., 3] > 0).any(), "the message is written in the picture"
        else:
            assert not rgba[..., 3].any(), "a blank, transparent picture"
    elif surface.startswith("wms"):
        item = etree.fromstring(answer.content).find(f"{OGC if '1.3.0' in surface else ''}ServiceException")
        assert item.get("code") == fault.wms_code and fault.words in item.text, answer.text[:500]
    else:
        item = etree.fromstring(answer.content).find(f"{OWS}Exception")
        code = "InvalidParameterValue" if fault.status in (400, 404) else "NoApplicableCode"
        assert item.get("exceptionCode") == code, answer.text[:500]
        assert fault.words in item.findtext(f"{OWS}ExceptionText")
