"""Read-token mode (`COGBROWSER_READ_ACCESS=token`): every read needs a credential, and the pages
sign in.

What a user notices: a map client without its token gets a 401 in its own dialect (a WMS or WMTS
exception report, a problem document elsewhere), never a 500 or a tile; no link the server writes
and no line it logs carries a token; a token in the URL reads but never writes; a browser is sent
to the sign-in page, where a token becomes an HttpOnly, SameSite=Strict session cookie that
revocation and sign-out end, and that a page of another origin cannot use for a callback.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from cogbrowser.catalog import queries
from cogbrowser.web.endpoints import ENDPOINTS
from cogbrowser.web.tokens import hash_token
from helpers import ingest_images, make_mbtiles, serving, shared_catalog

UTC = timezone.utc
TOKEN = "cgb_read-token-mode-tests-0123456789abcdefghijkl"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG = "cgb_not-a-token-of-this-server-0123456789abcdefgh"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
IMAGES = [("b01", "titiler/B01.tif", "s2", datetime(2021, 5, 1, tzinfo=UTC), 10.0),
          ("b09", "titiler/B09.tif", "s2", datetime(2021, 6, 1, tzinfo=UTC), 20.0)]
TILE = "/tiles/b01/WebMercatorQuad/tilejson.json"
WMTS_CAPABILITIES = "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities"
WMS_CAPABILITIES = "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0"
# Dash's callback of the page frame: which page and which top-bar links a path shows
ROUTE_CALLBACK = {"output": "..page.children...nav.children..",
                  "outputs": [{"id": "page", "property": "children"}, {"id": "nav", "property": "children"}],
                  "inputs": [{"id": "url", "property": "pathname", "value": "/analytics"}],
                  "changedPropIds": ["url.pathname"], "state": []}


def add_token(db, token: str, name: str) -> None:
    with db.connection() as conn:
        assert queries.create_token(conn, name, hash_token(token)) is not None


def soon(check, seconds: float = 2.0) -> bool:
    """Whether `check()` holds within `seconds` (a revocation reaches the server by a notification)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, (response.request.url, response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.text[:300]
    document = response.json()
    assert document["status"] == status and document["detail"]
    return document


@pytest.fixture(scope="module")
def token_server(postgres, tmp_path_factory):
    """Two real images and a user's basemap, served with reads behind a token: (url, settings, db)."""
    folder = tmp_path_factory.mktemp("token-mode")
    with shared_catalog(postgres, folder) as (settings, db):
        ingest_images(db, settings, IMAGES)
        add_token(db, TOKEN, "reader")
        basemap = make_mbtiles(folder / "my basemap.mbtiles")
        with serving(replace(settings, read_access="token", basemap=basemap), db) as url:
            yield url, settings, db


def read_routes() -> list[str]:
    """A URL of every declared read operation (GET), its path parameters filled with real names."""
    values = {"image_id": "b01", "layer": "b01", "collection_id": "s2", "tileMatrixSetId": "WebMercatorQuad",
              "z": "10", "x": "0", "y": "0", "format": "png", "item_id": "b01", "job_id": "x"}

    def fill(match: re.Match) -> str:
        name = match.group(1).split(":")[-1]
        return values.get(name, "x")

    rules = {re.sub(r"<([^>]+)>", fill, e.rule) for e in ENDPOINTS if e.method == "GET" and e.access == "read"}
    return sorted(rules - {"/api/v1/health"})


def test_every_read_route_needs_a_token(token_server):
    base = token_server[0]
    routes = read_routes()
    assert len(routes) > 20 and "/cogs/b01.tif" in routes and "/stac/search" in routes
    routes += ["/ui/basemap/tiles.json", "/ui/basemap/tiles/0/0/0"]  # the user's --basemap is data too
    for route in routes:
        refused = requests.get(base + route)
        assert "token" in problem(refused, 401)["detail"], route
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "b01" not in refused.text and "survey office" not in refused.text
        problem(requests.get(base + route, headers={"Authorization": f"Bearer {WRONG}"}), 401)
    assert requests.get(base + "/ui/basemap/tiles/0/0/0", headers=AUTH).status_code == 200
    assert requests.get(base + TILE, headers=AUTH).status_code == 200
    assert requests.get(f"{base}/api/v1/health").status_code == 200, "the health check stays open"


@pytest.mark.parametrize("path", [WMTS_CAPABILITIES, "/wmts/1.0.0/WMTSCapabilities.xml",
                                  ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=b01&STYLE=default&FORMAT=image/png"
                                   "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=10&TILEROW=0&TILECOL=0"),
                                  "/wmts/1.0.0/b01/default/WebMercatorQuad/10/0/0.png"])
def test_wmts_without_a_token_is_a_401_exception_report(token_server, path):
    base = token_server[0]
    for headers in ({}, {"Authorization": f"Bearer {WRONG}"}):
        refused = requests.get(base + path, headers=headers)
        assert refused.status_code == 401, refused.text[:300]
        assert refused.headers["Content-Type"].startswith("application/xml")
        assert "ows:ExceptionReport" in refused.text and "token" in refused.text
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(base + path, headers=AUTH).status_code == 200


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_wms_without_a_token_is_a_401_exception_report(token_server, version):
    base = token_server[0]
    getmap = (f"/wms?SERVICE=WMS&REQUEST=GetMap&VERSION={version}&LAYERS=b01&STYLES=&FORMAT=image/png"
              f"&{'CRS' if version == '1.3.0' else 'SRS'}=EPSG:3857&BBOX=0,0,1000,1000&WIDTH=64&HEIGHT=64")
    for path in (f"/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION={version}", getmap):
        refused = requests.get(base + path)
        assert refused.status_code == 401, refused.text[:300]
        assert "ServiceExceptionReport" in refused.text and "token" in refused.text
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(base + path, params={"access_token": WRONG}).status_code == 401
    assert "<WMS_Capabilities" in requests.get(base + WMS_CAPABILITIES, headers=AUTH).text


def test_no_link_carries_the_token(token_server):
    """A token given in the URL (as QGIS and GDAL give it) reads, but no link of the answer repeats
    it: links are shown, shared, pasted into tickets and logged."""
    base = token_server[0]
    pages = {"/api/v1/images": {"limit": 1}, "/stac/search": {"limit": 1}, "/stac/collections/s2/items": {"limit": 1},
             "/api/v1/detections": {"limit": 1}, TILE: {"bands": "1"}, "/stac": {}, "/stac/collections": {},
             "/api/v1/collections": {}, "/wmts": {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"},
             "/wmts/1.0.0/WMTSCapabilities.xml": {},
             "/wms": {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"},
             "/api/v1/openapi.json": {}, "/ui/basemap/tiles.json": {}}
    for path, params in pages.items():
        answer = requests.get(base + path, params={**params, "access_token": TOKEN})
        assert answer.status_code == 200, (path, answer.text[:300])
        assert TOKEN not in answer.text, path
    images = requests.get(f"{base}/api/v1/images", params={"limit": 1, "access_token": TOKEN}).json()
    links = {link["rel"]: link["href"] for link in images["links"]}
    assert "next" in links and "limit=1" in links["next"]
    assert "limit=1" in links["self"]
    tilejson = requests.get(base + TILE, params={"bands": "1", "access_token": TOKEN}).json()
    assert tilejson["tiles"][0].endswith("/{z}/{x}/{y}.png?bands=1"), "the render parameters stay, the token goes"


def test_the_log_never_shows_a_token(token_server, caplog):
    base = token_server[0]
    caplog.set_level(logging.DEBUG)
    for token in (TOKEN, WRONG):
        for path in (WMTS_CAPABILITIES, "/wmts/1.0.0/b01/default/WebMercatorQuad/10/0/0.png", WMS_CAPABILITIES,
                     "/api/v1/images", "/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=nothing"):
            requests.get(base + path, params={"access_token": token})
    served = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records
                        if not record.name.startswith("urllib3"))  # the server's log, not this client's
    assert TOKEN not in served and WRONG not in served


def test_a_token_in_the_url_reads_but_never_writes(token_server):
    base = token_server[0]
    refused = requests.post(f"{base}/api/v1/collections", params={"access_token": TOKEN}, json={"id": "url-write"})
    detail = problem(refused, 401)["detail"]
    assert "reads only" in detail and "Authorization: Bearer" in detail and TOKEN not in refused.text
    assert requests.get(f"{base}/api/v1/collections/url-write", headers=AUTH).status_code == 404, "nothing written"
    assert requests.get(f"{base}/api/v1/collections", params={"access_token": TOKEN}).status_code == 200
    made = requests.post(f"{base}/api/v1/collections", headers=AUTH, json={"id": "header-write"})
    assert made.status_code == 201
    assert requests.delete(f"{base}/api/v1/collections/header-write", headers=AUTH).status_code == 204


def test_a_url_token_never_writes_in_open_mode_either(live_server, db):
    add_token(db, TOKEN, "writer")
    refused = requests.post(f"{live_server}/api/v1/collections?access_token={TOKEN}", json={"id": "s1"})
    assert "reads only" in problem(refused, 401)["detail"]
    assert requests.post(f"{live_server}/api/v1/collections", json={"id": "s1"}, headers=AUTH).status_code == 201


# ---------------------------------------------------------------- the pages' sign-in

def sign_in(base: str, token: str, next_path: str = "/") -> requests.Session:
    """A browser-like client signed in through the sign-in form."""
    client = requests.Session()
    answer = client.post(f"{base}/signin", data={"token": token, "next": next_path},
                         headers={"Origin": base, **HTML}, allow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    return client


def test_pages_send_the_browser_to_the_sign_in(token_server):
    base = token_server[0]
    for path, expected in (("/", "/"), ("/analytics?x=image", "/analytics?x=image"),
                           (f"/?access_token={TOKEN}&y=1", "/?y=1")):
        sent = requests.get(base + path, headers=HTML, allow_redirects=False)
        assert sent.status_code == 302, path
        location = urlsplit(sent.headers["Location"])
        assert location.path == "/signin" and parse_qs(location.query)["next"] == [expected]
        assert TOKEN not in sent.headers["Location"]
    page = requests.get(f"{base}/signin", params={"next": "/analytics"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'name="token"' in page.text and 'type="password"' in page.text
    assert "/assets/cogbrowser.css" in page.text and not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert requests.get(f"{base}/assets/cogbrowser.css").status_code == 200, "the sign-in page's style is open"
    callback = requests.post(f"{base}/_dash-update-component", json=ROUTE_CALLBACK, headers={"Origin": base})
    assert problem(callback, 401), "the pages' callbacks need a session too"
    assert problem(requests.get(f"{base}/_dash-layout"), 401)


def test_a_token_signs_in_and_the_session_reads(token_server):
    base = token_server[0]
    wrong = requests.post(f"{base}/signin", data={"token": WRONG, "next": "/"}, headers={"Origin": base},
                          allow_redirects=False)
    assert wrong.status_code == 401 and "not valid" in wrong.text and "Set-Cookie" not in wrong.headers
    assert WRONG not in wrong.text, "the page does not echo what was pasted"
    answer = requests.post(f"{base}/signin", data={"token": TOKEN, "next": "/analytics?x=1"},
                           headers={"Origin": base}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/analytics?x=1"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("cogbrowser_session=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and TOKEN not in cookie and hash_token(TOKEN) not in cookie

    client = sign_in(base, TOKEN)
    assert client.get(f"{base}/", headers=HTML, allow_redirects=False).status_code == 200
    assert client.get(f"{base}/_dash-layout").status_code == 200
    assert client.get(base + TILE).status_code == 200
    assert client.get(f"{base}/api/v1/images").json()["images"]
    assert client.get(f"{base}/ui/basemap/tiles/0/0/0").status_code == 200
    answer = client.get(f"{base}/api/v1/images")
    assert "private" in answer.headers.get("Cache-Control", "private"), "no shared cache keeps what needs a token"
    tile = client.get(f"{base}/ui/basemap/tiles/0/0/0")
    assert "public" not in tile.headers["Cache-Control"] and "private" in tile.headers["Cache-Control"]
    write = client.post(f"{base}/api/v1/collections", json={"id": "by-cookie"}, headers={"Origin": base})
    assert "Authorization: Bearer" in problem(write, 401)["detail"], "the session reads; API writes need the token"


def test_a_callback_from_another_origin_is_refused(token_server):
    base = token_server[0]
    client = sign_in(base, TOKEN)
    same = client.post(f"{base}/_dash-update-component", json=ROUTE_CALLBACK, headers={"Origin": base})
    assert same.status_code == 200 and "analytics" in same.text
    port = urlsplit(base).port
    for headers in ({"Origin": f"http://127.0.0.1:{port + 1}"}, {"Origin": "http://evil.example"},
                    {"Origin": "null"}, {"Referer": "http://evil.example/page"}, {}):
        refused = client.post(f"{base}/_dash-update-component", json=ROUTE_CALLBACK, headers=headers)
        assert "origin" in problem(refused, 403)["detail"].lower(), headers
    referred = client.post(f"{base}/_dash-update-component", json=ROUTE_CALLBACK, headers={"Referer": f"{base}/"})
    assert referred.status_code == 200, "without Origin, a Referer of this server is enough"
    stac = client.post(f"{base}/stac/search", json={"limit": 1}, headers={"Origin": "http://evil.example"})
    assert problem(stac, 403), "a read by POST with the cookie is checked the same way"
    login = requests.post(f"{base}/signin", data={"token": TOKEN, "next": "/"},
                          headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert login.status_code == 403 and "Set-Cookie" not in login.headers


def test_sign_in_goes_back_only_to_this_server(token_server):
    base = token_server[0]
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "signin"):
        answer = requests.post(f"{base}/signin", data={"token": TOKEN, "next": target}, headers={"Origin": base},
                               allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["Location"] == "/", target


def test_revoking_the_token_ends_its_sessions(token_server):
    base, _, db = token_server
    other = "cgb_a-token-to-revoke-0123456789abcdefghijklmnopqrst"
    add_token(db, other, "to-revoke")
    client = sign_in(base, other)
    assert client.get(base + TILE).status_code == 200
    with db.connection() as conn:
        assert queries.revoke_token(conn, "to-revoke")
    assert soon(lambda: client.get(base + TILE).status_code == 401), "the catalog's notification arrives at once"
    sent = client.get(f"{base}/", headers=HTML, allow_redirects=False)
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/signin")
    assert "sign in again" in problem(client.get(base + TILE), 401)["detail"]


def test_sign_out_ends_the_session(token_server):
    base = token_server[0]
    client = sign_in(base, TOKEN)
    kept = dict(client.cookies)
    foreign = client.post(f"{base}/signout", headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert foreign.status_code == 403
    out = client.post(f"{base}/signout", headers={"Origin": base}, allow_redirects=False)
    assert out.status_code == 303 and out.headers["Location"] == "/signin"
    assert "cogbrowser_session=;" in out.headers["Set-Cookie"] or "Max-Age=0" in out.headers["Set-Cookie"]
    assert not client.cookies.get("cogbrowser_session")
    assert client.get(f"{base}/", headers=HTML, allow_redirects=False).status_code == 302
    assert kept, "the session cookie was there before"


def test_a_session_made_by_one_server_is_good_on_every_server_of_the_catalog(token_server, tmp_path):
    """No sticky sessions: a server on another machine (another data dir) of the same catalog takes
    the cookie another server made, as it takes its revocation."""
    base, settings, db = token_server
    client = sign_in(base, TOKEN)
    elsewhere = replace(settings, read_access="token", data_dir=tmp_path / "another machine")
    with serving(elsewhere, db) as other:
        assert client.get(f"{other}/", headers=HTML, allow_redirects=False).status_code == 200
        assert client.get(f"{other}{TILE}").status_code == 200
        assert requests.get(f"{other}{TILE}").status_code == 401, "not without the cookie"
    assert not (settings.data_dir / "session-secret").exists(), "the secret is the catalog's, not a file's"


def test_the_session_secret_of_an_earlier_version_becomes_the_catalogs(settings, db):
    """A data dir whose secret was a file (earlier versions): its sessions stay valid after the upgrade."""
    from cogbrowser.web.sessions import SECRET_FILE, session_secret

    kept = "ab" * 32
    (settings.data_dir / SECRET_FILE).write_text(kept + "\n")
    assert session_secret(db, settings.data_dir / SECRET_FILE) == kept.encode()
    (settings.data_dir / SECRET_FILE).unlink()
    assert session_secret(db, settings.data_dir / SECRET_FILE) == kept.encode(), "kept in the catalog"


def test_open_mode_pages_need_no_sign_in(live_server):
    assert requests.get(f"{live_server}/", headers=HTML, allow_redirects=False).status_code == 200
    sent = requests.get(f"{live_server}/signin", allow_redirects=False)
    assert sent.status_code == 303 and sent.headers["Location"] == "/"
    assert requests.get(f"{live_server}/api/v1/images").status_code == 200
