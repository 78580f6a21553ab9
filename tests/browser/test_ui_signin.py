"""The pages when reads need a token (`COGBROWSER_READ_ACCESS=token`), in Debian's chromium, on the
demo data set: the sign-in page, the map and the dashboard after signing in with a real token,
the end of the session when the token is revoked with the CLI, and a callback of another origin
refused although the browser holds the cookie."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import browser_page, serving, wait_for_imagery

S2 = "S2_demo_20240601"
TIMEOUT = 60_000  # ms: a callback round or a map's tiles on a busy two-core machine (load 8 seen)
ROUTE_CALLBACK = {"output": "..page.children...nav.children..",
                  "outputs": [{"id": "page", "property": "children"}, {"id": "nav", "property": "children"}],
                  "inputs": [{"id": "url", "property": "pathname", "value": "/analytics"}],
                  "changedPropIds": ["url.pathname"], "state": []}


@pytest.fixture(scope="module")
def token_server(demo_server):
    """The demo catalog served a second time, with reads behind a token: (url, settings)."""
    _, settings, db = demo_server
    token_settings = replace(settings, read_access="token")
    with serving(token_settings, db) as url:
        yield url, token_settings


def token_cli(settings, *args: str) -> subprocess.CompletedProcess:
    answer = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(settings.data_dir),
                             "--database-url", settings.database_url, "token", *args],
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    return answer


def new_token(settings) -> tuple[str, str]:
    """A token made as an administrator makes one: (name, token)."""
    name = f"analyst-{uuid.uuid4().hex[:8]}"
    return name, token_cli(settings, "create", name).stdout.strip()


def sign_in(page, base: str, token: str, path: str) -> None:
    """Open `path`, land on the sign-in page, paste the token, and come back to `path`."""
    page.goto(base + path)
    assert urlsplit(page.url).path == "/signin" and parse_qs(urlsplit(page.url).query)["next"] == [path]
    page.fill("#token", token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: urlsplit(url).path == urlsplit(path).path)


def test_the_pages_sign_in_with_a_token_and_then_work(chromium, token_server):
    base, settings = token_server
    _, token = new_token(settings)
    with browser_page(chromium, base) as page:
        page.goto(f"{base}/")
        assert urlsplit(page.url).path == "/signin", "the Browse page sends a browser without a session to sign in"
        assert page.locator("form.signin").is_visible() and page.locator(".topbar .brand").is_visible()
        page.fill("#token", "cgb_not-this-servers-token")
        page.get_by_role("button", name="Sign in").click()
        assert "not valid" in page.locator(".message.error").inner_text()
        assert [c for c in page.context.cookies() if c["name"] == "cogbrowser_session"] == []

        tiles: list[tuple[str, int]] = []
        page.on("response", lambda r: "/wms" in r.url and "GetMap" in r.url and tiles.append((r.url, r.status)))
        sign_in(page, base, token, f"/?image={S2}&detections=off")
        cookie, = [c for c in page.context.cookies() if c["name"] == "cogbrowser_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and token not in cookie["value"]
        assert page.evaluate("document.cookie") == "", "no script of the page can read the session"
        wait_for_imagery(page, TIMEOUT)
        assert tiles and all(status == 200 for _, status in tiles), tiles
        assert all(f"layers={S2}" in url and "access_token" not in url for url, _ in tiles)
        page.locator(".browse-tab", has_text="Search").click()
        page.locator(".result", has_text=S2).first.wait_for(timeout=TIMEOUT)  # the search: a callback reading the API

        page.locator(".nav-link", has_text="Analytics").click()
        page.wait_for_selector("#an-kpis .kpi", timeout=TIMEOUT)
        page.wait_for_function("() => [...document.querySelectorAll('#an-bar .js-plotly-plot, #an-scatter "
                               ".js-plotly-plot')].filter(gd => (gd.data || []).length).length === 2",
                               timeout=TIMEOUT)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/signin")
        assert [c for c in page.context.cookies() if c["name"] == "cogbrowser_session"] == []
        page.goto(f"{base}/analytics")
        assert urlsplit(page.url).path == "/signin", "signed out: the pages need a sign-in again"


def test_revoking_the_token_ends_the_session(chromium, token_server):
    base, settings = token_server
    name, token = new_token(settings)
    with browser_page(chromium, base) as page:
        sign_in(page, base, token, "/analytics")
        page.wait_for_selector("#an-kpis .kpi", timeout=TIMEOUT)
        assert page.request.get(f"{base}/api/v1/images?limit=1").status == 200, "the session reads the API"

        token_cli(settings, "revoke", name)
        deadline = time.monotonic() + 2  # the catalog's notification reaches the server within milliseconds
        while page.request.get(f"{base}/api/v1/images?limit=1").status != 401:
            assert time.monotonic() < deadline, "the revoked token's session still reads"
            time.sleep(0.05)
        page.reload()
        assert urlsplit(page.url).path == "/signin", "the revoked token's session no longer opens the pages"
        refused = page.request.post(f"{base}/_dash-update-component", data=json.dumps(ROUTE_CALLBACK),
                                    headers={"Content-Type": "application/json", "Origin": base})
        assert refused.status == 401


def test_a_callback_from_another_origin_is_refused_despite_the_cookie(chromium, token_server):
    base, settings = token_server
    _, token = new_token(settings)
    other = f"http://127.0.0.1:{urlsplit(base).port + 1}"  # the same site for SameSite: only the Origin differs
    with browser_page(chromium, base) as page:
        sign_in(page, base, token, "/analytics")
        page.wait_for_selector("#an-kpis .kpi", timeout=TIMEOUT)
        send = {"data": json.dumps(ROUTE_CALLBACK), "headers": {"Content-Type": "application/json"}}
        own = page.request.post(f"{base}/_dash-update-component", **{**send, "headers": {
            **send["headers"], "Origin": base}})
        assert own.status == 200 and "analytics" in own.text()
        foreign = page.request.post(f"{base}/_dash-update-component", **{**send, "headers": {
            **send["headers"], "Origin": other}})
        assert foreign.status == 403 and "origin" in foreign.json()["detail"].lower()
        assert page.request.post(f"{base}/_dash-update-component", **send).status == 403, "no Origin, no Referer"
